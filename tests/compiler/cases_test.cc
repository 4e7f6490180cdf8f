// Every shared conformance case, step by step, through the COMPILED programs: one program
// per node, run in the userspace interpreter for every ordered pod pair, TCP, UDP and SCTP
// (SCTP cannot be probed in this kernel, so this is where SCTP rules are checked).
#include <gtest/gtest.h>

#include "cluster_sim.h"
#include "conformance_case.h"
#include "policy/loader.h"

namespace {

using compiler_test::ClusterSim;

std::string cases_dir() {
  if (const char* env = std::getenv("NFTPOLICY_CASES_DIR")) return env;
  return NFTPOLICY_CASES_DIR;
}

policy::Cluster load(const cases::CaseState& state, const cases::Step& step) {
  policy::Loader loader;
  loader.add_text(state.manifests(step.policies).dump(), "case.json");
  auto r = std::move(loader).finish();
  EXPECT_TRUE(r.errors.empty()) << r.errors.front().error.message;
  return std::move(r.cluster);
}

std::optional<policy::Endpoint> endpoint(const policy::Cluster& cl, const cases::Case& c,
                                         const std::string& name) {
  if (const auto* pod = cl.find_pod(name)) return policy::Endpoint{pod, pod->ips.front()};
  if (const auto* ext = c.find_external(name)) {
    return policy::Endpoint{nullptr, common::IpAddr::parse(ext->ip)};
  }
  return std::nullopt;
}

class CompiledCases : public testing::TestWithParam<std::string> {};

TEST_P(CompiledCases, InterpreterAgreesAtEveryStep) {
  const cases::Case c = cases::load_case(GetParam());
  cases::CaseState state(c);
  const auto keys = c.pod_keys();
  for (const auto& step : c.steps) {
    state.apply(step);
    const policy::Cluster cluster = load(state, step);
    const ClusterSim sim(cluster);
    for (const auto& probe : step.probes) {
      const auto proto = *policy::parse_protocol(probe.protocol);
      std::set<cases::Pair> got;
      for (const auto& from : keys) {
        for (const auto& to : keys) {
          if (from == to) continue;
          const auto flow = policy::Evaluator::pod_flow(*cluster.find_pod(from),
                                                        *cluster.find_pod(to), probe.port, proto);
          if (!sim.allowed(flow)) got.emplace(from, to);
        }
      }
      EXPECT_EQ(got, probe.deny) << "step " << step.name << ", " << probe.port << "/"
                                 << probe.protocol << "\n"
                                 << cases::truth_table(keys, probe.deny, got);
    }
    for (const auto& probe : step.external_probes) {
      const auto from = endpoint(cluster, c, probe.from);
      const auto to = endpoint(cluster, c, probe.to);
      ASSERT_TRUE(from && to) << probe.from << " -> " << probe.to;
      const policy::Flow flow{.src = *from,
                              .dst = *to,
                              .port = static_cast<std::uint16_t>(probe.port),
                              .protocol = *policy::parse_protocol(probe.protocol)};
      EXPECT_EQ(sim.allowed(flow), probe.allowed)
          << "step " << step.name << ": " << probe.from << " -> " << probe.to;
    }
  }
}

std::string case_name(const testing::TestParamInfo<std::string>& info) {
  std::string s = std::filesystem::path(info.param).stem().string();
  for (char& ch : s) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(SharedCases, CompiledCases,
                         testing::ValuesIn(cases::case_files(cases_dir())), case_name);

TEST(CompiledCasesGuard, CasesAreThere) {
  EXPECT_GE(cases::case_files(cases_dir()).size(), 48u) << cases_dir();
}

}  // namespace
