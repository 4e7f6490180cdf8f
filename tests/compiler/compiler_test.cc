// The shape of compiled programs: golden files for the examples, determinism, sharing of
// chains and sets, and pod churn reaching the kernel as set elements only.
#include "compiler/compiler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "compiler/ranges.h"
#include "nft/diff.h"
#include "nft/render.h"
#include "nft/validate.h"
#include "policy/loader.h"

namespace {

using compiler::compile;
using policy::Cluster;

Cluster load(const std::string& yaml) {
  policy::Loader loader;
  loader.add_text(yaml, "test.yaml");
  auto r = std::move(loader).finish();
  EXPECT_TRUE(r.errors.empty()) << r.errors.front().error.message;
  return std::move(r.cluster);
}

std::string pod(const std::string& ns, const std::string& name, const std::string& node,
                const std::string& ip, const std::string& labels, const std::string& extra = "") {
  return "---\n{apiVersion: v1, kind: Pod, metadata: {name: " + name + ", namespace: " + ns +
         ", labels: {" + labels + "}}, spec: {nodeName: " + node +
         ", containers: [{name: c, ports: [{name: http, containerPort: " +
         (extra.empty() ? "80" : extra) + "}]}]}, status: {phase: Running, podIP: \"" + ip +
         "\"}}\n";
}

std::string np(const std::string& ns, const std::string& name, const std::string& spec) {
  return "---\n{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: " + name +
         ", namespace: " + ns + "}, spec: {" + spec + "}}\n";
}

std::size_t chains_named(const nft::Program& p, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& [name, _] : p.chains) n += name.starts_with(prefix) ? 1 : 0;
  return n;
}

// Golden programs for the examples: a change in the compiled shape shows up as a readable
// diff in review. NFTPOLICY_UPDATE_GOLDEN=1 rewrites them.
TEST(Compiler, ExamplesMatchGoldenPrograms) {
  const auto r = policy::load_paths({NFTPOLICY_EXAMPLES_DIR});
  ASSERT_TRUE(r.errors.empty());
  for (const std::string node : {"node-1", "node-2"}) {
    SCOPED_TRACE(node);
    const auto compiled = compile(r.cluster, node);
    ASSERT_TRUE(nft::validate(compiled.program).is_ok());
    const std::string text = nft::render(compiled.program);
    const std::string path = std::string(COMPILER_TESTDATA_DIR) + "/examples-" + node + ".nft";
    if (std::getenv("NFTPOLICY_UPDATE_GOLDEN")) std::ofstream(path) << text;
    std::ifstream in(path);
    std::stringstream want;
    want << in.rdbuf();
    EXPECT_EQ(text, want.str()) << "golden file " << path;
    EXPECT_EQ(compile(r.cluster, node).program, compiled.program) << "not deterministic";
  }
}

TEST(Compiler, PodsWithTheSamePoliciesShareOneChain) {
  std::string y;
  for (int i = 0; i < 10; ++i)
    y += pod("shop", "web-" + std::to_string(i), "n1", "10.244.1." + std::to_string(10 + i),
             "app: web");
  y += np("shop", "web-in",
          "podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {}}]}]");
  const auto c = compile(load(y), "n1");
  EXPECT_EQ(chains_named(c.program, "ingress-"), 1u);
  EXPECT_EQ(c.program.sets.at(compiler::kIngressV4).elements.size(), 10u);
  EXPECT_EQ(c.stats.isolated_ingress, 10u);
  EXPECT_EQ(c.stats.isolated_egress, 0u);
}

TEST(Compiler, IngressNamedPortsResolvingDifferentlyGetTheirOwnChains) {
  std::string y = pod("shop", "a", "n1", "10.244.1.10", "app: web", "80") +
                  pod("shop", "b", "n1", "10.244.1.11", "app: web", "8080") +
                  pod("shop", "c", "n1", "10.244.1.12", "app: web", "80");
  y += np("shop", "http", "podSelector: {}, ingress: [{ports: [{port: http}]}]");
  const auto c = compile(load(y), "n1");
  EXPECT_EQ(chains_named(c.program, "ingress-"), 2u);
}

TEST(Compiler, PodChurnChangesSetElementsOnly) {
  const std::string base = pod("shop", "api", "n1", "10.244.1.10", "app: api") +
                           pod("shop", "web-0", "n2", "10.244.2.10", "app: web") +
                           pod("shop", "web-1", "n1", "10.244.1.11", "app: web") +
                           np("shop", "api-in",
                              "podSelector: {matchLabels: {app: api}}, ingress: [{from: "
                              "[{podSelector: {matchLabels: {app: web}}}]}]") +
                           np("shop", "web-in", "podSelector: {matchLabels: {app: web}}");
  const auto before = compile(load(base), "n1").program;
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"a pod joins a peer set on another node",
       base + pod("shop", "web-2", "n2", "10.244.2.11", "app: web")},
      {"a pod of this node joins an existing group",
       base + pod("shop", "web-3", "n1", "10.244.1.12", "app: web")},
      {"a pod leaves", pod("shop", "api", "n1", "10.244.1.10", "app: api") +
                           pod("shop", "web-1", "n1", "10.244.1.11", "app: web") +
                           np("shop", "api-in",
                              "podSelector: {matchLabels: {app: api}}, ingress: [{from: "
                              "[{podSelector: {matchLabels: {app: web}}}]}]") +
                           np("shop", "web-in", "podSelector: {matchLabels: {app: web}}")},
  };
  for (const auto& [what, yaml] : changes) {
    SCOPED_TRACE(what);
    const auto after = compile(load(yaml), "n1").program;
    const auto tx = nft::diff(before, after);
    ASSERT_FALSE(tx.empty());
    for (const auto& op : tx.ops) {
      EXPECT_TRUE(std::holds_alternative<nft::op::AddElements>(op) ||
                  std::holds_alternative<nft::op::DeleteElements>(op))
          << nft::render(tx);
    }
  }
}

TEST(Compiler, HostNetworkFinishedAndAddresslessPodsAreLeftOut) {
  std::string y = pod("shop", "web", "n1", "10.244.1.10", "app: web") +
                  pod("shop", "done", "n1", "10.244.1.11", "app: web") +
                  "---\n{apiVersion: v1, kind: Pod, metadata: {name: host, namespace: shop, "
                  "labels: {app: web}}, spec: {nodeName: n1, hostNetwork: true, containers: "
                  "[{name: c}]}, status: {phase: Running, podIP: 192.168.77.1}}\n"
                  "---\n{apiVersion: v1, kind: Pod, metadata: {name: pending, namespace: shop, "
                  "labels: {app: web}}, spec: {nodeName: n1, containers: [{name: c}]}, "
                  "status: {phase: Pending}}\n";
  const std::string running = "phase: Running, podIP: \"10.244.1.11\"";
  y.replace(y.find(running), running.size(), "phase: Succeeded, podIP: \"10.244.1.11\"");
  y += np("shop", "from-web",
          "podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]");
  const auto c = compile(load(y), "n1");
  EXPECT_EQ(c.stats.node_pods, 1u);
  EXPECT_EQ(c.program.sets.at(compiler::kIngressV4).elements.size(), 1u);
  for (const auto& [name, set] : c.program.sets) {
    if (name.starts_with("pods-")) {
      EXPECT_EQ(set.elements.size(), 1u) << nft::render(c.program);
    }
  }
}

// By default the output chain only holds the quarantine and the mid-stream guard: nothing
// dispatches the node's own connections to its pods' ingress chains.
bool dispatches(const nft::Chain& chain) {
  return std::any_of(chain.rules.begin(), chain.rules.end(), [](const nft::Rule& r) {
    return std::holds_alternative<nft::VmapDispatch>(r.statement);
  });
}

TEST(Compiler, NodeTrafficIsJudgedOnlyWhenAsked) {
  const std::string y =
      pod("shop", "web", "n1", "10.244.1.10", "app: web") + np("shop", "deny", "podSelector: {}");
  const auto trusted = compile(load(y), "n1").program;
  ASSERT_NE(trusted.find_chain(compiler::kOutputChain), nullptr);
  EXPECT_FALSE(dispatches(*trusted.find_chain(compiler::kOutputChain)));
  EXPECT_EQ(compile(load(y), "n1", {.midstream_guard = false, .quarantine_mark = 0})
                .program.find_chain(compiler::kOutputChain),
            nullptr);
  const auto judged = compile(load(y), "n1", {.allow_node_traffic = false}).program;
  ASSERT_NE(judged.find_chain(compiler::kOutputChain), nullptr);
  EXPECT_TRUE(dispatches(*judged.find_chain(compiler::kOutputChain)));
  EXPECT_TRUE(nft::validate(judged).is_ok());
}

TEST(Ranges, ExceptIsCutOutOfTheBlock) {
  auto cidr = [](const char* s) { return common::Cidr::parse(s)->cidr; };
  auto ip = [](const char* s) { return *common::IpAddr::parse(s); };
  EXPECT_EQ(compiler::subtract(cidr("10.0.0.0/24"), {cidr("10.0.0.0/26"), cidr("10.0.0.128/25")}),
            (std::vector<compiler::AddrRange>{{ip("10.0.0.64"), ip("10.0.0.127")}}));
  EXPECT_EQ(compiler::subtract(cidr("0.0.0.0/0"), {cidr("10.0.0.1/32")}),
            (std::vector<compiler::AddrRange>{{ip("0.0.0.0"), ip("10.0.0.0")},
                                              {ip("10.0.0.2"), ip("255.255.255.255")}}));
  EXPECT_TRUE(compiler::subtract(cidr("fd00::/64"), {cidr("fd00::/63")}).empty());
  EXPECT_EQ(compiler::subtract(cidr("fd00::/127"), {cidr("10.0.0.0/8")}).size(), 1u);
}

TEST(Ranges, PortRangesMergePerProtocol) {
  using compiler::PortRange;
  EXPECT_EQ(
      compiler::merge({{6, 80, 90}, {17, 53, 53}, {6, 85, 100}, {6, 101, 101}, {6, 200, 200}}),
      (std::vector<PortRange>{{6, 80, 101}, {6, 200, 200}, {17, 53, 53}}));
  EXPECT_EQ(compiler::merge({{6, 0, 65535}, {6, 80, 80}}), (std::vector<PortRange>{{6, 0, 65535}}));
}

}  // namespace
