// The reference evaluator against NetworkPolicy semantics (networking.k8s.io/v1), one probe
// per row, on the cluster of cluster_fixture.h.
#include "policy/evaluator.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cluster_fixture.h"
#include "policy/explain.h"

namespace policy {
namespace {

using common::Family;
constexpr Protocol TCP = Protocol::kTCP;
constexpr Protocol UDP = Protocol::kUDP;
constexpr Protocol SCTP = Protocol::kSCTP;

std::string NP(const char* ns, const char* name, const std::string& spec) {
  return testing::np_doc(ns, name, spec);
}

// Policies reused by several cases.
const std::string kDenyIngressProd = NP("prod", "deny", "podSelector: {}");
const std::string kDenyEgressProd =
    NP("prod", "deny-egress", "podSelector: {}, policyTypes: [Egress]");
const std::string kWebFromClient =
    NP("prod", "web-from-client",
       "podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: "
       "{app: client}}}]}]");
std::string web_ingress(const std::string& rules) {
  return NP("prod", "web", "podSelector: {matchLabels: {app: web}}, ingress: [" + rules + "]");
}
std::string client_egress(const std::string& rules) {
  return NP(
      "prod", "client-out",
      "podSelector: {matchLabels: {app: client}}, policyTypes: [Egress], egress: [" + rules + "]");
}

const std::string kImpliedPod =
    "---\n{apiVersion: v1, kind: Pod, metadata: {name: x, namespace: implied, labels: {app: db}}, "
    "status: {podIP: 10.0.5.5}}\n";

struct Probe {
  const char* src;
  const char* dst;
  uint16_t port;
  Protocol proto;
  bool allowed;
  std::optional<Family> family = std::nullopt;
};

struct Case {
  const char* name;
  std::string policies;
  std::vector<Probe> probes;
};

std::vector<Case> cases() {
  return {
      // API: "By default, pods are non-isolated; they accept traffic from any source."
      {"no policy: not isolated",
       "",
       {{"prod/client", "prod/web", 8080, TCP, true},
        {"8.8.8.8", "prod/web", 80, UDP, true},
        {"prod/web", "1.1.1.1", 443, TCP, true}}},
      // API (ingress): "If this field is empty then this NetworkPolicy does not allow any
      // traffic (and serves solely to ensure that the pods it selects are isolated by default)".
      {"deny-all ingress",
       kDenyIngressProd,
       {{"prod/client", "prod/web", 8080, TCP, false},
        {"dev/client", "prod/web", 8080, TCP, false},
        {"8.8.8.8", "prod/db", 5432, TCP, false},
        // Ingress isolation says nothing about the pod's own egress.
        {"prod/client", "dev/db", 5432, TCP, true},
        {"prod/client", "8.8.8.8", 53, UDP, true}}},
      {"ingress isolation of the selected pods only",
       NP("prod", "web-only", "podSelector: {matchLabels: {app: web}}"),
       {{"prod/client", "prod/web", 80, TCP, false}, {"prod/client", "prod/db", 80, TCP, true}}},
      // API (egress): "If this field is empty then this NetworkPolicy limits all outgoing
      // traffic (and serves solely to ensure that the pods it selects are isolated by default)."
      {"deny-all egress",
       kDenyEgressProd,
       {{"prod/client", "prod/web", 8080, TCP, false},
        {"prod/client", "8.8.8.8", 53, UDP, false},
        // policyTypes [Egress] only: ingress is not isolated.
        {"dev/client", "prod/web", 8080, TCP, true},
        {"8.8.8.8", "prod/web", 8080, TCP, true}}},
      // Concepts: "for a connection from a source pod to a destination pod to be allowed, both
      // the egress policy on the source pod and the ingress policy on the destination pod need
      // to allow the connection."
      {"both sides: source egress isolated",
       kWebFromClient + client_egress(""),
       {{"prod/client", "prod/web", 8080, TCP, false}}},
      {"both sides: both allow",
       kWebFromClient + client_egress("{to: [{podSelector: {matchLabels: {app: web}}}]}"),
       {{"prod/client", "prod/web", 8080, TCP, true}, {"prod/client", "prod/db", 80, TCP, false}}},
      {"both sides: destination ingress isolated",
       client_egress("{to: [{podSelector: {matchLabels: {app: web}}}]}") + kDenyIngressProd,
       {{"prod/client", "prod/web", 8080, TCP, false}}},
      // API: "If there are multiple policies ... the traffic allowed is the union of what is
      // allowed by any rule of any policy that selects the pod."
      {"union across policies",
       kDenyIngressProd + kWebFromClient,
       {{"prod/client", "prod/web", 8080, TCP, true}, {"prod/client", "prod/db", 80, TCP, false}}},
      {"union across rules of one policy",
       web_ingress("{from: [{podSelector: {matchLabels: {app: db}}}]}, {from: [{podSelector: "
                   "{matchLabels: {app: client}}}]}"),
       {{"prod/client", "prod/web", 80, TCP, true}, {"prod/db", "prod/web", 80, TCP, true}}},
      {"a rule admits only its peers",
       web_ingress("{from: [{podSelector: {matchLabels: {app: db}}}]}"),
       {{"prod/client", "prod/web", 80, TCP, false}, {"prod/db", "prod/web", 80, TCP, true}}},
      // API (podSelector peer): "... selects particular Pods in the same namespace as the
      // NetworkPolicy".
      {"podSelector alone: same namespace only",
       web_ingress("{from: [{podSelector: {matchLabels: {app: client}}}]}"),
       {{"prod/client", "prod/web", 80, TCP, true},
        {"dev/client", "prod/web", 80, TCP, false},
        {"other/client", "prod/web", 80, TCP, false}}},
      // API (namespaceSelector): "If podSelector is also not set ... selects all pods in the
      // namespaces selected by namespaceSelector".
      {"namespaceSelector alone: all pods of matching namespaces",
       web_ingress("{from: [{namespaceSelector: {matchLabels: {env: dev}}}]}"),
       {{"dev/client", "prod/web", 80, TCP, true},
        {"dev/db", "prod/web", 80, TCP, true},
        {"other/client", "prod/web", 80, TCP, false},
        {"prod/client", "prod/web", 80, TCP, false}}},
      // API: "If namespaceSelector is also set, then the NetworkPolicyPeer as a whole selects
      // the pods matching podSelector in the Namespaces selected by NamespaceSelector."
      {"both selectors in one peer: AND",
       web_ingress("{from: [{namespaceSelector: {matchLabels: {team: a}}, podSelector: "
                   "{matchLabels: {app: client}}}]}"),
       {{"dev/client", "prod/web", 80, TCP, true},
        {"prod/client", "prod/web", 80, TCP, true},
        {"dev/db", "prod/web", 80, TCP, false},
        {"other/client", "prod/web", 80, TCP, false}}},
      {"two peers: OR",
       web_ingress("{from: [{namespaceSelector: {matchLabels: {team: b}}}, {podSelector: "
                   "{matchLabels: {app: db}}}]}"),
       {{"other/client", "prod/web", 80, TCP, true},
        {"prod/db", "prod/web", 80, TCP, true},
        {"prod/client", "prod/web", 80, TCP, false},
        {"dev/db", "prod/web", 80, TCP, false}}},
      {"namespaceSelector {}: every namespace",
       web_ingress("{from: [{namespaceSelector: {}}]}"),
       {{"other/client", "prod/web", 80, TCP, true},
        {"prod/client", "prod/web", 80, TCP, true},
        {"8.8.8.8", "prod/web", 80, TCP, false}}},
      {"namespaceSelector on the name label",
       web_ingress("{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "
                   "other}}}]}"),
       {{"other/client", "prod/web", 80, TCP, true}, {"dev/client", "prod/web", 80, TCP, false}}},
      {"podSelector {}: every pod of the namespace",
       web_ingress("{from: [{podSelector: {}}]}"),
       {{"prod/client", "prod/web", 80, TCP, true},
        {"prod/noip", "prod/web", 80, TCP, true},
        {"other/client", "prod/web", 80, TCP, false},
        {"10.0.1.50", "prod/web", 80, TCP, false}}},
      // API (from): "If this field is empty or missing, this rule matches all sources".
      {"empty rule: every source, every port",
       web_ingress("{}"),
       {{"8.8.8.8", "prod/web", 1, UDP, true}, {"other/client", "prod/web", 65535, SCTP, true}}},
      {"from: [] is every source",
       web_ingress("{from: [], ports: [{port: 8080}]}"),
       {{"8.8.8.8", "prod/web", 8080, TCP, true}, {"8.8.8.8", "prod/web", 80, TCP, false}}},
      // API (ipBlock): "IPBlock describes a particular CIDR ... that is allowed to the pods
      // matched by a NetworkPolicySpec's podSelector. The except entry describes CIDRs that
      // should not be included within this rule."
      {"ipBlock with except",
       web_ingress("{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.2.0/24]}}]}"),
       {{"prod/client", "prod/web", 80, TCP, true},  // pod IPs match ipBlock too
        {"other/client", "prod/web", 80, TCP, true},
        {"dev/client", "prod/web", 80, TCP, false},  // inside the except range
        {"10.0.9.9", "prod/web", 80, TCP, true},
        {"10.0.2.200", "prod/web", 80, TCP, false},
        {"8.8.8.8", "prod/web", 80, TCP, false}}},  // outside the cidr
      {"pod without IP never matches ipBlock",
       web_ingress("{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}"),
       {{"prod/noip", "prod/web", 80, TCP, false}, {"prod/client", "prod/web", 80, TCP, true}}},
      // API (protocol/port): "If this field is not provided, this matches all port names and
      // numbers."
      {"protocol-only port: every port of that protocol",
       web_ingress("{ports: [{protocol: UDP}]}"),
       {{"prod/client", "prod/web", 5353, UDP, true},
        {"prod/client", "prod/web", 1, UDP, true},
        {"prod/client", "prod/web", 5353, TCP, false},
        {"prod/client", "prod/web", 5353, SCTP, false}}},
      {"port without protocol is TCP",
       web_ingress("{ports: [{port: 53}]}"),
       {{"prod/client", "prod/web", 53, TCP, true}, {"prod/client", "prod/web", 53, UDP, false}}},
      {"SCTP rule does not admit TCP",
       web_ingress("{ports: [{protocol: SCTP, port: 80}]}"),
       {{"prod/client", "prod/web", 80, TCP, false}, {"prod/client", "prod/web", 80, SCTP, true}}},
      // API (endPort): "indicates that the range of ports from port to endPort if set,
      // inclusive, should be allowed".
      {"endPort range inclusive",
       web_ingress("{ports: [{port: 8000, endPort: 8080}]}"),
       {{"prod/client", "prod/web", 8000, TCP, true},
        {"prod/client", "prod/web", 8080, TCP, true},
        {"prod/client", "prod/web", 8040, TCP, true},
        {"prod/client", "prod/web", 7999, TCP, false},
        {"prod/client", "prod/web", 8081, TCP, false},
        {"prod/client", "prod/web", 8040, UDP, false}}},
      // Named ports resolve on the destination pod: web's http is 8080, db's http is 8081.
      {"named port, ingress",
       NP("prod", "http", "podSelector: {}, ingress: [{ports: [{port: http}]}]"),
       {{"prod/client", "prod/web", 8080, TCP, true},
        {"prod/client", "prod/web", 8081, TCP, false},
        {"prod/client", "prod/db", 8081, TCP, true},
        {"prod/client", "prod/db", 8080, TCP, false},
        {"prod/client", "prod/web", 8080, UDP, false}}},
      {"named port: name AND protocol",
       web_ingress("{ports: [{protocol: UDP, port: http}, {protocol: UDP, port: dns}]}"),
       {{"prod/client", "prod/web", 8080, UDP, false},
        {"prod/client", "prod/web", 8080, TCP, false},
        {"prod/client", "prod/web", 53, UDP, true},
        {"prod/client", "prod/web", 53, TCP, false}}},
      {"named port, egress: resolved on the destination",
       client_egress("{ports: [{port: http}]}"),
       {{"prod/client", "prod/web", 8080, TCP, true},
        {"prod/client", "prod/db", 8081, TCP, true},
        {"prod/client", "prod/db", 8080, TCP, false},
        {"prod/client", "8.8.8.8", 8080, TCP, false}}},  // an outside address declares nothing
      // DESIGN.md: "hostNetwork pods are not selected as peers (their IP is the node's)".
      {"hostNetwork source is never matched by selectors",
       web_ingress("{from: [{podSelector: {}}]}, {from: [{namespaceSelector: {}}]}"),
       {{"prod/host", "prod/web", 80, TCP, false}, {"prod/client", "prod/web", 80, TCP, true}}},
      {"hostNetwork pod is not isolated",
       kDenyIngressProd + kDenyEgressProd,
       {{"prod/client", "prod/host", 80, TCP, false},  // the client's egress is isolated
        {"8.8.8.8", "prod/host", 80, TCP, true},
        {"prod/host", "8.8.8.8", 80, TCP, true}}},
      {"finished pods are not matched by selectors",
       web_ingress("{from: [{podSelector: {}}]}"),
       {{"prod/done", "prod/web", 80, TCP, false}}},
      {"outside addresses: selectors never match, ipBlock does",
       web_ingress("{from: [{namespaceSelector: {}, podSelector: {}}]}, {from: [{ipBlock: {cidr: "
                   "10.0.9.0/24}}]}"),
       {{"10.0.1.3", "prod/web", 80, TCP, false},  // the client's address, but not the pod
        {"10.0.9.9", "prod/web", 80, TCP, true}}},
      {"policyTypes [Egress] with ingress rules does not isolate ingress",
       NP("prod", "e",
          "podSelector: {}, policyTypes: [Egress], ingress: [{from: [{podSelector: "
          "{matchLabels: {app: db}}}]}]"),
       {{"dev/client", "prod/web", 80, TCP, true}, {"prod/client", "dev/db", 80, TCP, false}}},
      {"default policyTypes with egress rules isolate both directions",
       NP("prod", "c",
          "podSelector: {matchLabels: {app: client}}, egress: [{to: [{podSelector: {matchLabels: "
          "{app: db}}}]}]"),
       {{"prod/client", "prod/db", 5432, TCP, true},
        {"prod/client", "prod/web", 8080, TCP, false},
        {"prod/web", "prod/client", 8080, TCP, false}}},
      {"a policy isolates pods of its own namespace only",
       NP("dev", "deny", "podSelector: {}"),
       {{"prod/client", "prod/web", 80, TCP, true}, {"prod/client", "dev/db", 80, TCP, false}}},
      // A namespace the input does not declare carries only kubernetes.io/metadata.name.
      {"implied namespace: matched by its name label",
       web_ingress("{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "
                   "implied}}}]}") +
           kImpliedPod,
       {{"implied/x", "prod/web", 80, TCP, true}, {"dev/db", "prod/web", 80, TCP, false}}},
      {"implied namespace: no other label",
       web_ingress("{from: [{namespaceSelector: {matchLabels: {team: a}}}]}") + kImpliedPod,
       {{"implied/x", "prod/web", 80, TCP, false}, {"dev/db", "prod/web", 80, TCP, true}}},
      {"a policy that selects no pod isolates nothing",
       NP("prod", "none", "podSelector: {matchLabels: {app: nothing}}"),
       {{"prod/client", "prod/web", 80, TCP, true}}},
      {"matchExpressions in the policy's podSelector",
       NP("prod", "not-web",
          "podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [web]}]}"),
       {{"prod/client", "prod/web", 80, TCP, true}, {"prod/web", "prod/db", 80, TCP, false}}},
      // Dual-stack: every IP of status.podIPs, both families.
      {"dual-stack: IPv4 by default, IPv6 on request",
       NP("prod", "db",
          "podSelector: {matchLabels: {app: db}}, ingress: [{from: [{ipBlock: "
          "{cidr: 'fd00::1:0/112'}}]}]"),
       {{"prod/web", "prod/db", 5432, TCP, false},
        {"prod/web", "prod/db", 5432, TCP, true, Family::kV6},
        {"prod/web", "prod/db", 5432, TCP, false, Family::kV4}}},
      {"IPv6-only pod talks IPv6",
       web_ingress("{from: [{ipBlock: {cidr: 10.0.0.0/8}}]}, {from: [{ipBlock: {cidr: "
                   "'fd00::/16', except: ['fd00::1:5/128']}}]}"),
       {{"prod/v6only", "prod/web", 80, TCP, true},
        {"prod/client", "prod/web", 80, TCP, true},
        {"2001:db8::1", "prod/web", 80, TCP, false},
        {"fd00::1:5", "prod/web", 80, TCP, false}}},
      {"an IPv4 ipBlock never matches IPv6",
       web_ingress("{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}"),
       {{"prod/db", "prod/web", 80, TCP, true},
        {"prod/db", "prod/web", 80, TCP, false, Family::kV6},
        {"prod/v6only", "prod/web", 80, TCP, false}}},
      {"egress to outside addresses by ipBlock",
       client_egress("{to: [{ipBlock: {cidr: 8.8.8.0/24}}, {ipBlock: {cidr: '2001:db8::/32'}}]}"),
       {{"prod/client", "8.8.8.8", 53, UDP, true},
        {"prod/client", "1.1.1.1", 53, UDP, false},
        {"prod/v6only", "2001:db8::1", 443, TCP, true},
        {"prod/client", "prod/web", 8080, TCP, false}}},
  };
}

TEST(EvaluatorTest, SemanticsTable) {
  size_t probes = 0;
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    const auto r = testing::load_cluster(c.policies);
    ASSERT_TRUE(r.ok()) << testing::all_errors(r);
    const Evaluator ev(r.cluster);
    for (const auto& p : c.probes) {
      ++probes;
      const Flow flow = testing::make_flow(r.cluster, p.src, p.dst, p.port, p.proto, p.family);
      const Verdict v = ev.evaluate(flow);
      SCOPED_TRACE(explain_text(r.cluster, flow, v));
      EXPECT_EQ(v.allowed, p.allowed);
      EXPECT_EQ(v.allowed, v.egress.allowed && v.ingress.allowed);
      EXPECT_EQ(ev.allowed(flow), p.allowed) << "allowed() disagrees with evaluate()";
    }
  }
  EXPECT_GE(probes, 30u);
}

// evaluate() (explained) and allowed() (fast) must agree on every flow: all pairs of
// endpoints, several ports, every protocol and both families, for every policy set above.
TEST(EvaluatorTest, ExplainedAndFastAgree) {
  const char* outside[] = {"8.8.8.8", "10.0.2.200", "10.0.9.9", "2001:db8::1", "fd00::1:5"};
  const uint16_t ports[] = {53, 8080, 8081};  // DNS, and named port http on web / db
  size_t flows = 0;
  for (const auto& c : cases()) {
    const auto r = testing::load_cluster(c.policies);
    ASSERT_TRUE(r.ok());
    const Evaluator ev(r.cluster);
    std::vector<std::string> eps;
    for (const auto& p : r.cluster.pods) eps.push_back(p.key());
    for (const char* o : outside) eps.push_back(o);
    for (const auto& s : eps) {
      for (const auto& d : eps) {
        for (uint16_t port : ports) {
          for (Protocol proto : {TCP, UDP, SCTP}) {
            for (auto fam : {std::optional<Family>{}, std::optional<Family>{Family::kV6}}) {
              const Flow f = testing::make_flow(r.cluster, s, d, port, proto, fam);
              ++flows;
              ASSERT_EQ(ev.evaluate(f).allowed, ev.allowed(f))
                  << c.name << ": " << s << " -> " << d << " " << to_string(proto) << "/" << port;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(flows, 10000u);
}

TEST(EvaluatorTest, PodFlowPicksAFamily) {
  const auto r = testing::load_cluster("");
  ASSERT_TRUE(r.ok());
  const Cluster& c = r.cluster;
  auto pod = [&](const char* k) -> const Pod& { return *c.find_pod(k); };
  auto ip = [](const std::optional<common::IpAddr>& a) { return a ? a->str() : "-"; };
  struct Case {
    const char* src;
    const char* dst;
    std::optional<Family> family;
    const char* src_ip;
    const char* dst_ip;
  };
  const Case cases[] = {
      {"prod/web", "prod/db", std::nullopt, "10.0.1.1", "10.0.1.2"},  // IPv4 when both have it
      {"prod/web", "prod/db", Family::kV6, "fd00::1:1", "fd00::1:2"},
      {"prod/web", "prod/v6only", std::nullopt, "fd00::1:1", "fd00::1:6"},  // else IPv6
      {"prod/client", "prod/v6only", Family::kV6, "-", "fd00::1:6"},
      {"prod/client", "prod/v6only", Family::kV4, "10.0.1.3", "-"},
      {"prod/noip", "prod/web", std::nullopt, "-", "10.0.1.1"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(std::string(k.src) + " -> " + k.dst);
    const Flow f = Evaluator::pod_flow(pod(k.src), pod(k.dst), 80, TCP, k.family);
    EXPECT_EQ(f.src.pod, c.find_pod(k.src));
    EXPECT_EQ(f.dst.pod, c.find_pod(k.dst));
    EXPECT_EQ(ip(f.src.ip), k.src_ip);
    EXPECT_EQ(ip(f.dst.ip), k.dst_ip);
    EXPECT_EQ(f.port, 80);
    EXPECT_EQ(f.protocol, TCP);
  }
}

TEST(EvaluatorTest, IsolatingPolicies) {
  const auto r = testing::load_cluster(kDenyIngressProd + kDenyEgressProd + kWebFromClient);
  ASSERT_TRUE(r.ok());
  const Evaluator ev(r.cluster);
  auto names = [&](const char* pod, Direction d) {
    std::vector<std::string> out;
    for (size_t i : ev.isolating(*r.cluster.find_pod(pod), d)) {
      out.push_back(r.cluster.policies[i].key());
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names("prod/web", Direction::kIngress), (V{"prod/deny", "prod/web-from-client"}));
  EXPECT_EQ(names("prod/web", Direction::kEgress), (V{"prod/deny-egress"}));
  EXPECT_EQ(names("prod/db", Direction::kIngress), (V{"prod/deny"}));
  EXPECT_EQ(names("prod/host", Direction::kIngress), V{});  // hostNetwork: never isolated
  EXPECT_EQ(names("dev/db", Direction::kIngress), V{});
  const Pod stranger{.namespace_ = "prod", .name = "stranger"};  // not in the cluster
  EXPECT_TRUE(ev.isolating(stranger, Direction::kIngress).empty());
}

}  // namespace
}  // namespace policy
