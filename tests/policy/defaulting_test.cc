// API-server defaulting: policyTypes, protocol, the namespace name label, the default
// namespace, and masked ipBlock prefixes.
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace policy {
namespace {

using testing::load;

const NetworkPolicy& only_policy(const LoadResult& r) {
  EXPECT_TRUE(r.ok()) << testing::all_errors(r);
  EXPECT_EQ(r.cluster.policies.size(), 1u);
  static const NetworkPolicy kNone;
  return r.cluster.policies.empty() ? kNone : r.cluster.policies.front();
}

struct TypesCase {
  const char* name;
  const char* spec;
  bool ingress;
  bool egress;
  bool explicit_types;
  size_t ingress_rules;
  size_t egress_rules;
};

TEST(DefaultingTest, PolicyTypesTable) {
  // API (policyTypes): "If this field is not specified, it will default based on the existence
  // of ingress or egress rules; policies that contain an egress section are assumed to affect
  // egress, and all policies (whether or not they contain an ingress section) are assumed to
  // affect ingress."
  const TypesCase cases[] = {
      {"absent, no rules", "podSelector: {}", true, false, false, 0, 0},
      {"absent, ingress rules", "ingress: [{}]", true, false, false, 1, 0},
      {"absent, egress rules", "egress: [{}]", true, true, false, 0, 1},
      {"absent, empty egress list", "egress: []", true, false, false, 0, 0},
      {"absent, both rules", "ingress: [{}], egress: [{}, {}]", true, true, false, 1, 2},
      {"empty list defaults too", "policyTypes: [], egress: [{}]", true, true, false, 0, 1},
      {"explicit Egress only", "policyTypes: [Egress]", false, true, true, 0, 0},
      // Ingress rules of an Egress-only policy are kept but do not isolate anything.
      {"explicit Egress with ingress rules", "policyTypes: [Egress], ingress: [{}]", false, true,
       true, 1, 0},
      {"explicit Ingress with egress rules", "policyTypes: [Ingress], egress: [{}]", true, false,
       true, 0, 1},
      {"explicit both", "policyTypes: [Ingress, Egress]", true, true, true, 0, 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto r = load(testing::np_doc("ns", "p", c.spec));
    const auto& np = only_policy(r);
    EXPECT_EQ(np.ingress_type, c.ingress);
    EXPECT_EQ(np.egress_type, c.egress);
    EXPECT_EQ(np.affects(Direction::kIngress), c.ingress);
    EXPECT_EQ(np.affects(Direction::kEgress), c.egress);
    EXPECT_EQ(np.policy_types_explicit, c.explicit_types);
    EXPECT_EQ(np.ingress.size(), c.ingress_rules);
    EXPECT_EQ(np.egress.size(), c.egress_rules);
  }
}

TEST(DefaultingTest, PortsAndProtocol) {
  // API (protocol): "If not specified, this field defaults to TCP."
  const auto r = load(testing::np_doc(
      "ns", "p",
      "ingress: [{ports: [{port: 80}, {protocol: UDP}, {port: http}, {port: 8000, endPort: "
      "9000, protocol: SCTP}, {}]}]"));
  const auto& np = only_policy(r);
  ASSERT_EQ(np.ingress.size(), 1u);
  const auto& ports = np.ingress[0].ports;
  ASSERT_EQ(ports.size(), 5u);
  EXPECT_EQ(ports[0], (PolicyPort{Protocol::kTCP, int32_t{80}, std::nullopt}));
  EXPECT_EQ(ports[1], (PolicyPort{Protocol::kUDP, std::nullopt, std::nullopt}));
  EXPECT_EQ(ports[2], (PolicyPort{Protocol::kTCP, std::string("http"), std::nullopt}));
  EXPECT_EQ(ports[3], (PolicyPort{Protocol::kSCTP, int32_t{8000}, 9000}));
  // `{}`: every TCP port.
  EXPECT_EQ(ports[4], (PolicyPort{Protocol::kTCP, std::nullopt, std::nullopt}));
}

TEST(DefaultingTest, AbsentSelectorsAndRules) {
  // API (podSelector): "An empty podSelector selects all pods in this namespace."
  const auto r = load(
      "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: "
      "ns}}");
  const auto& np = only_policy(r);
  EXPECT_TRUE(np.pod_selector.empty());
  EXPECT_TRUE(np.ingress.empty());
  EXPECT_TRUE(np.ingress_type);
  EXPECT_FALSE(np.egress_type);

  const auto r2 = load(testing::np_doc(
      "ns", "p",
      "ingress: [{from: [{podSelector: {}, namespaceSelector: {}}, {namespaceSelector: "
      "{matchLabels: {a: b}}}]}]"));
  const auto& np2 = only_policy(r2);
  ASSERT_EQ(np2.ingress.size(), 1u);
  const auto& peers = np2.ingress[0].peers;
  ASSERT_EQ(peers.size(), 2u);
  ASSERT_TRUE(peers[0].pod_selector && peers[0].namespace_selector);
  EXPECT_TRUE(peers[0].pod_selector->empty());
  EXPECT_FALSE(peers[1].pod_selector);  // absent is not `{}`
  EXPECT_FALSE(peers[1].ip_block);
  EXPECT_EQ(peers[1].namespace_selector->str(), "a=b");
}

TEST(DefaultingTest, IpBlockHostBitsAreMasked) {
  // The API server accepts "10.244.1.10/4" (the upstream e2e suite uses it) as 0.0.0.0/4.
  const auto r = load(testing::np_doc(
      "ns", "p",
      "egress: [{to: [{ipBlock: {cidr: 10.244.1.10/4, except: [10.244.1.10/16]}}, {ipBlock: "
      "{cidr: 'fd00::1/64'}}]}]"));
  const auto& np = only_policy(r);
  ASSERT_EQ(np.egress.size(), 1u);
  const auto& peers = np.egress[0].peers;
  ASSERT_EQ(peers.size(), 2u);
  ASSERT_TRUE(peers[0].ip_block);
  EXPECT_EQ(peers[0].ip_block->cidr.str(), "0.0.0.0/4");
  EXPECT_EQ(peers[0].ip_block->cidr_text, "10.244.1.10/4");
  ASSERT_EQ(peers[0].ip_block->except.size(), 1u);
  EXPECT_EQ(peers[0].ip_block->except[0].str(), "10.244.0.0/16");
  EXPECT_EQ(peers[1].ip_block->cidr.str(), "fd00::/64");
}

TEST(DefaultingTest, NamespaceNameLabel) {
  // Since Kubernetes 1.21 the API server sets kubernetes.io/metadata.name=<name> on every
  // namespace, overwriting any value the user wrote.
  const auto r = load(
      "{apiVersion: v1, kind: Namespace, metadata: {name: prod, labels: {team: a, "
      "kubernetes.io/metadata.name: spoofed}}}\n"
      "---\n"
      "{apiVersion: v1, kind: Namespace, metadata: {name: bare}}\n");
  ASSERT_TRUE(r.ok()) << testing::all_errors(r);
  ASSERT_EQ(r.cluster.namespaces.count("prod"), 1u);
  EXPECT_EQ(r.cluster.namespaces.at("prod").labels,
            (Labels{{"kubernetes.io/metadata.name", "prod"}, {"team", "a"}}));
  EXPECT_TRUE(r.cluster.namespaces.at("prod").declared);
  EXPECT_EQ(r.cluster.namespaces.at("bare").labels,
            (Labels{{"kubernetes.io/metadata.name", "bare"}}));
  EXPECT_TRUE(r.warnings.empty());
}

TEST(DefaultingTest, ObjectsWithoutNamespaceGoToDefault) {
  // kubectl (and the API server for a request in the default context) put an object without
  // metadata.namespace into "default". JSON null and "" mean the same as absent: ObjectMeta's
  // namespace is a plain string with omitempty.
  struct Case {
    const char* name;
    const char* meta;
  };
  const Case cases[] = {
      {"absent", "{name: x}"},
      {"null", "{name: x, namespace: null}"},
      {"empty string", "{name: x, namespace: ''}"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto r = load(std::string("{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, "
                                    "metadata: ") +
                        c.meta + "}\n---\n{apiVersion: v1, kind: Pod, metadata: " + c.meta + "}");
    EXPECT_TRUE(r.ok()) << testing::all_errors(r);
    ASSERT_EQ(r.cluster.policies.size(), 1u);
    ASSERT_EQ(r.cluster.pods.size(), 1u);
    EXPECT_EQ(r.cluster.policies[0].key(), "default/x");
    EXPECT_EQ(r.cluster.pods[0].key(), "default/x");
    ASSERT_EQ(r.cluster.namespaces.count("default"), 1u);
    EXPECT_FALSE(r.cluster.namespaces.at("default").declared);
  }
}

TEST(DefaultingTest, PodFields) {
  const auto r = load(
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: prod\n"
      "  labels: {app: web}\n  deletionTimestamp: '2024-01-01T00:00:00Z'\n"
      "spec:\n  nodeName: node-1\n  hostNetwork: false\n"
      "  containers:\n  - name: c\n    ports:\n    - {containerPort: 8080, name: http}\n"
      "    - {containerPort: 53, name: dns, protocol: UDP}\n"
      "status:\n  phase: Running\n  podIP: 10.0.0.5\n"
      "  podIPs: [{ip: 10.0.0.5}, {ip: 'fd00::5'}]\n");
  ASSERT_TRUE(r.ok()) << testing::all_errors(r);
  ASSERT_EQ(r.cluster.pods.size(), 1u);
  const Pod& p = r.cluster.pods[0];
  EXPECT_EQ(p.key(), "prod/web");
  EXPECT_EQ(p.node, "node-1");
  EXPECT_EQ(p.phase, "Running");
  EXPECT_TRUE(p.terminating);
  EXPECT_FALSE(p.host_network);
  EXPECT_TRUE(p.selectable());
  // podIP is the first of podIPs; it is not duplicated.
  ASSERT_EQ(p.ips.size(), 2u);
  EXPECT_EQ(p.ips[0].str(), "10.0.0.5");
  EXPECT_EQ(p.ips[1].str(), "fd00::5");
  EXPECT_EQ(p.ports, (std::vector<ContainerPort>{{"http", 8080, Protocol::kTCP},
                                                 {"dns", 53, Protocol::kUDP}}));
}

}  // namespace
}  // namespace policy
