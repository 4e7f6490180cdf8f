// The property behind the compiler: on random clusters, the compiled programs (one per node,
// run in the userspace interpreter) allow exactly what the reference evaluator allows, for
// every pod pair, pod <-> outside address, port, protocol and address family.
// NFTPOLICY_PROPERTY_SEEDS=N runs more clusters (default 2000).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "cluster_sim.h"
#include "nft/canonical.h"
#include "nft/render.h"
#include "nft/validate.h"
#include "policy/explain.h"
#include "random_cluster.h"

namespace {

using compiler_test::ClusterSim;
using policy::Endpoint;
using policy::Protocol;

int seeds() {
  if (const char* env = std::getenv("NFTPOLICY_PROPERTY_SEEDS")) return std::atoi(env);
  return 2000;
}

std::vector<Endpoint> endpoints(const policy::Cluster& c) {
  std::vector<Endpoint> out;
  for (const auto& pod : c.pods) {
    if (pod.finished()) continue;  // a finished pod's address belongs to nobody
    for (const auto& ip : pod.ips) out.push_back({&pod, ip});
  }
  for (const char* ext : {"192.0.2.7", "10.244.1.250", "2001:db8::7", "fd00:10:244:1::99"}) {
    out.push_back({nullptr, common::IpAddr::parse(ext)});
  }
  return out;
}

// hostNetwork pods are the node: towards pods of their own node their traffic leaves
// through the output hook, which trusts the node by default (a deliberate difference from
// the evaluator, which knows nothing of nodes).
bool comparable(const Endpoint& src, const Endpoint& dst) {
  if (src.ip->family != dst.ip->family) return false;
  if (src.pod && dst.pod && src.pod == dst.pod) return false;
  if (src.pod && src.pod->host_network) return !dst.pod || dst.pod->node != src.pod->node;
  return true;
}

// A hostNetwork destination is an address the node shares with every hostNetwork pod on it:
// the kernel cannot tell them apart, so a named port declared by ANY of them is open.
bool expected(const policy::Cluster& c, const policy::Evaluator& ev, const policy::Flow& flow) {
  if (!flow.dst.pod || !flow.dst.pod->host_network) return ev.allowed(flow);
  for (const auto& pod : c.pods) {
    if (!pod.host_network || pod.finished()) continue;
    if (std::find(pod.ips.begin(), pod.ips.end(), *flow.dst.ip) == pod.ips.end()) continue;
    policy::Flow f = flow;
    f.dst.pod = &pod;
    if (ev.allowed(f)) return true;
  }
  return false;
}

TEST(CompilerProperty, InterpreterAgreesWithEvaluatorOnRandomClusters) {
  const std::uint16_t ports[] = {53, 80, 81, 120, 8080, 9090};
  std::size_t flows = 0, mismatches = 0, denied = 0;
  for (int seed = 0; seed < seeds(); ++seed) {
    const policy::Cluster c = compiler_test::random_cluster(static_cast<std::uint64_t>(seed));
    const ClusterSim sim(c);
    for (const auto& node : {"n1", "n2"}) {
      if (const auto* p = sim.program(node)) {
        ASSERT_TRUE(nft::validate(*p).is_ok())
            << "seed " << seed << ": " << nft::validate(*p).error().to_string();
        // The agent compares with read-backs, which are canonical (nft/canonical.h).
        ASSERT_TRUE(nft::is_canonical(*p)) << "seed " << seed;
      }
    }
    const policy::Evaluator ev(c);
    const auto eps = endpoints(c);
    for (const auto& src : eps) {
      for (const auto& dst : eps) {
        if (!comparable(src, dst)) continue;
        for (auto proto : {Protocol::kTCP, Protocol::kUDP, Protocol::kSCTP}) {
          for (auto port : ports) {
            const policy::Flow flow{.src = src, .dst = dst, .port = port, .protocol = proto};
            const bool want = expected(c, ev, flow);
            const bool got = sim.allowed(flow);
            ++flows;
            denied += want ? 0 : 1;
            if (want == got || ++mismatches > 3) continue;
            std::string trace;
            (void)sim.allowed(flow, &trace);
            ADD_FAILURE() << "seed " << seed << ": " << src.str() << " (" << src.ip->str()
                          << ") -> " << dst.str() << " (" << dst.ip->str() << ") "
                          << policy::to_string(proto) << "/" << port << ": evaluator "
                          << (want ? "allows" : "denies") << ", compiled program "
                          << (got ? "allows" : "denies") << "\n"
                          << policy::explain_text(c, flow, ev.evaluate(flow)) << "\ntrace:\n"
                          << trace;
          }
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << flows << " flows";
  // The generator must produce both outcomes in quantity, or the property says little.
  EXPECT_GT(denied, flows / 10) << flows;
  EXPECT_LT(denied, flows * 9 / 10) << flows;
  std::printf("[ property ] %d clusters, %zu flows, %zu denied\n", seeds(), flows, denied);
}

}  // namespace

namespace {

// The watch path builds clusters incrementally; nothing may depend on the order of pods.
TEST(CompilerProperty, PodOrderDoesNotMatter) {
  for (int seed = 0; seed < 300; ++seed) {
    policy::Cluster c = compiler_test::random_cluster(static_cast<std::uint64_t>(seed));
    const auto sorted_n1 = compiler::compile(c, "n1").program;
    std::mt19937 rng(static_cast<unsigned>(seed));
    std::shuffle(c.pods.begin(), c.pods.end(), rng);
    EXPECT_EQ(compiler::compile(c, "n1").program, sorted_n1) << "seed " << seed;
  }
}

}  // namespace
