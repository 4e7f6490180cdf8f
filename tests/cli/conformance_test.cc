// The conformance gate: every case of ../shared/cases (format in SCHEMA.md there, translated
// from the Kubernetes e2e network policy suite) is turned into manifests and run through
// `policy-dry-run matrix -o json` (and `eval -o json` for external probes), step by step.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "conformance_case.h"
#include "run_cli.h"

namespace {

using json = nlohmann::json;
using cli_test::dry_run;
using cli_test::shell_quote;
using cli_test::TempDir;
namespace fs = std::filesystem;

std::string cases_dir() {
  if (const char* env = std::getenv("NFTPOLICY_CASES_DIR")) return env;
  return NFTPOLICY_CASES_DIR;
}

class Conformance : public testing::TestWithParam<std::string> {};

TEST_P(Conformance, MatrixAgreesAtEveryStep) {
  const cases::Case c = cases::load_case(GetParam());
  cases::CaseState state(c);
  const std::vector<std::string> pods = c.pod_keys();
  TempDir tmp;
  for (const auto& step : c.steps) {
    state.apply(step);
    const auto file =
        tmp.write(step.name + "/cluster.json", state.manifests(step.policies).dump(2));
    for (const auto& probe : step.probes) {
      const auto r =
          dry_run("matrix -f " + shell_quote(file) + " --port " + std::to_string(probe.port) +
                  " --protocol " + probe.protocol + " -o json");
      ASSERT_EQ(r.rc, 0) << r.err;
      const json out = json::parse(r.out);
      ASSERT_EQ(out["matrices"].size(), 1u);
      const json& m = out["matrices"][0];
      EXPECT_EQ(m["port"], probe.port);
      EXPECT_EQ(m["protocol"], probe.protocol);
      EXPECT_EQ(m["pods"].get<std::vector<std::string>>(), pods);
      std::set<cases::Pair> got;
      for (const auto& d : m["denied"])
        got.emplace(d[0].get<std::string>(), d[1].get<std::string>());
      EXPECT_EQ(got, probe.deny) << "step " << step.name << ", " << probe.port << "/"
                                 << probe.protocol << "\n"
                                 << cases::truth_table(pods, probe.deny, got);
    }
    for (const auto& probe : step.external_probes) {
      const auto* from_ext = c.find_external(probe.from);
      const auto* to_ext = c.find_external(probe.to);
      const std::string from = from_ext ? from_ext->ip : probe.from;
      const std::string to = to_ext ? to_ext->ip : probe.to;
      const auto r = dry_run("eval -f " + shell_quote(file) + " --from " + shell_quote(from) +
                             " --to " + shell_quote(to) + " --port " + std::to_string(probe.port) +
                             " --protocol " + probe.protocol + " -o json");
      ASSERT_TRUE(r.rc == 0 || r.rc == 1) << r.err;
      EXPECT_EQ(json::parse(r.out)["allowed"], probe.allowed)
          << "step " << step.name << ": " << from << " -> " << to;
    }
  }
}

std::string case_name(const testing::TestParamInfo<std::string>& info) {
  std::string s = fs::path(info.param).stem().string();
  for (char& ch : s) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(SharedCases, Conformance,
                         testing::ValuesIn(cases::case_files(cases_dir())), case_name);

TEST(ConformanceCases, AreThere) {
  // The gate must not pass by finding nothing.
  EXPECT_GE(cases::case_files(cases_dir()).size(), 48u) << "cases expected in " << cases_dir();
}

}  // namespace
