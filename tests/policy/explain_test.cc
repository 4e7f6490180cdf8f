// Explanations: which policies isolate each side, which rule, peer and port admitted the flow,
// and why the others did not; the text and JSON renderings.
#include "policy/explain.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cluster_fixture.h"

namespace policy {
namespace {

using testing::contains;
using V = std::vector<std::string>;

struct Explained {
  LoadResult r;
  Verdict v;
  std::string text;
  nlohmann::json json;
};

Explained explain(const std::string& policies, const char* src, const char* dst, uint16_t port,
                  Protocol proto = Protocol::kTCP) {
  Explained e{testing::load_cluster(policies), {}, {}, {}};
  EXPECT_TRUE(e.r.ok()) << testing::all_errors(e.r);
  const Evaluator ev(e.r.cluster);
  const Flow f = testing::make_flow(e.r.cluster, src, dst, port, proto);
  e.v = ev.evaluate(f);
  EXPECT_EQ(e.v.allowed, ev.allowed(f));
  e.text = explain_text(e.r.cluster, f, e.v);
  e.json = verdict_json(e.r.cluster, f, e.v);
  return e;
}

TEST(ExplainTest, DenyAllNamesTheIsolatingPolicy) {
  const auto e =
      explain(testing::np_doc("prod", "deny", "podSelector: {}"), "prod/client", "prod/web", 8080);
  EXPECT_FALSE(e.v.allowed);
  EXPECT_FALSE(e.v.ingress.allowed);
  EXPECT_TRUE(e.v.ingress.isolated);
  EXPECT_EQ(e.v.ingress.isolating, V{"prod/deny"});
  EXPECT_TRUE(e.v.ingress.rules.empty());  // a policy without rules admits nothing
  EXPECT_EQ(e.v.ingress.direction, Direction::kIngress);
  EXPECT_TRUE(e.v.egress.allowed);
  EXPECT_FALSE(e.v.egress.isolated);
  EXPECT_TRUE(e.v.egress.isolating.empty());
  EXPECT_TRUE(contains(e.v.egress.summary, "not isolated")) << e.v.egress.summary;
  EXPECT_TRUE(contains(e.text, "DENIED: prod/client (10.0.1.3) -> prod/web (10.0.1.1) TCP/8080"))
      << e.text;
  EXPECT_TRUE(contains(e.text, "prod/deny has no ingress rules")) << e.text;
  EXPECT_TRUE(contains(e.text, "ingress of prod/web does not")) << e.text;
  EXPECT_EQ(e.json["allowed"], false);
  EXPECT_EQ(e.json["ingress"]["isolating_policies"], nlohmann::json(V{"prod/deny"}));
  EXPECT_EQ(e.json["from"]["ip"], "10.0.1.3");
  EXPECT_EQ(e.json["to"]["pod"], "prod/web");
  EXPECT_EQ(e.json["protocol"], "TCP");
}

TEST(ExplainTest, MatchedRulePeerAndPortIndices) {
  const std::string policies =
      testing::np_doc("prod", "a-db",
                      "podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: "
                      "{matchLabels: {app: db}}}], ports: [{port: 5432}]}]") +
      testing::np_doc("prod", "b-client",
                      "podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: "
                      "db}}}]}, {from: [{namespaceSelector: {matchLabels: {team: b}}}, "
                      "{podSelector: {matchLabels: {app: client}}}], ports: [{port: 9090}, "
                      "{protocol: UDP}, {port: 8000, endPort: 8100}]}]");
  const auto e = explain(policies, "prod/client", "prod/web", 8080);
  EXPECT_TRUE(e.v.allowed) << e.text;
  EXPECT_EQ(e.v.ingress.isolating, (V{"prod/a-db", "prod/b-client"}));
  ASSERT_EQ(e.v.ingress.rules.size(), 3u);
  const auto& r0 = e.v.ingress.rules[0];
  EXPECT_EQ(r0.policy, "prod/a-db");
  EXPECT_FALSE(r0.matched);
  EXPECT_EQ(r0.peer, -1);
  EXPECT_TRUE(contains(r0.reason, "no peer matches prod/client")) << r0.reason;
  const auto& r2 = e.v.ingress.rules[2];
  EXPECT_EQ(r2.policy, "prod/b-client");
  EXPECT_EQ(r2.rule, 1u);
  EXPECT_TRUE(r2.matched);
  EXPECT_EQ(r2.peer, 1);
  EXPECT_EQ(r2.port, 2);
  EXPECT_TRUE(contains(r2.reason, "from[1] pods matching `app=client` in namespace prod"))
      << r2.reason;
  EXPECT_TRUE(contains(r2.reason, "ports[2] TCP 8000-8100 admits TCP/8080")) << r2.reason;
  EXPECT_EQ(e.json["ingress"]["rules"][2]["peer"], 1);
  EXPECT_EQ(e.json["ingress"]["rules"][2]["port"], 2);
  EXPECT_FALSE(e.json["ingress"]["rules"][0].contains("peer"));
  EXPECT_TRUE(contains(e.text, "+ prod/b-client spec.ingress[1]")) << e.text;
  EXPECT_TRUE(contains(e.text, "- prod/a-db spec.ingress[0]")) << e.text;

  // The same rule, a port it does not admit: the peer matched but no port did.
  const auto miss = explain(policies, "prod/client", "prod/web", 8101);
  EXPECT_FALSE(miss.v.allowed);
  const auto& m = miss.v.ingress.rules[2];
  EXPECT_FALSE(m.matched);
  EXPECT_EQ(m.peer, 1);
  EXPECT_EQ(m.port, -1);
  EXPECT_TRUE(contains(m.reason, "but no port admits TCP/8101")) << m.reason;
  EXPECT_TRUE(contains(m.reason, "ports[1] all UDP ports: protocol is UDP")) << m.reason;
  EXPECT_TRUE(contains(m.reason, "port 8101 is not in 8000-8100")) << m.reason;
}

TEST(ExplainTest, ReasonsInPlainWords) {
  const auto web = [](const std::string& rules) {
    return testing::np_doc("prod", "web",
                           "podSelector: {matchLabels: {app: web}}, ingress: [" + rules + "]");
  };
  struct Case {
    const char* name;
    std::string policies;
    const char* src;
    const char* dst;
    uint16_t port;
    std::string reason;  // substring of ingress.rules[0].reason
  };
  const Case cases[] = {
      {"no IP for ipBlock", web("{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}"), "prod/noip", "prod/web",
       80, "prod/noip has no IP"},
      {"outside the cidr", web("{from: [{ipBlock: {cidr: 10.9.0.0/16}}]}"), "prod/client",
       "prod/web", 80, "10.0.1.3 is outside 10.9.0.0/16"},
      {"in the except range", web("{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.1.0/24]}}]}"),
       "prod/client", "prod/web", 80, "10.0.1.3 is in the except range 10.0.1.0/24"},
      {"hostNetwork", web("{from: [{podSelector: {}}]}"), "prod/host", "prod/web", 80,
       "prod/host uses hostNetwork"},
      {"finished", web("{from: [{podSelector: {}}]}"), "prod/done", "prod/web", 80,
       "prod/done has finished (Succeeded)"},
      {"not a pod", web("{from: [{podSelector: {}}]}"), "10.0.1.3", "prod/web", 80,
       "10.0.1.3 is not a pod"},
      {"other namespace", web("{from: [{podSelector: {}}]}"), "dev/client", "prod/web", 80,
       "a podSelector alone selects pods in namespace prod only"},
      {"namespace labels", web("{from: [{namespaceSelector: {matchLabels: {team: b}}}]}"),
       "dev/client", "prod/web", 80, "does not match `team=b`"},
      {"pod labels", web("{from: [{podSelector: {matchLabels: {app: db}}}]}"), "prod/client",
       "prod/web", 80, "{app=client} do not match `app=db`"},
      {"named port missing", web("{ports: [{port: sql}]}"), "prod/client", "prod/web", 5432,
       "prod/web declares no TCP port named sql"},
      {"named port elsewhere", web("{ports: [{port: http}]}"), "prod/client", "prod/web", 80,
       "named port http is 8080 on prod/web"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto e = explain(c.policies, c.src, c.dst, c.port);
    EXPECT_FALSE(e.v.allowed);
    ASSERT_EQ(e.v.ingress.rules.size(), 1u);
    EXPECT_FALSE(e.v.ingress.rules[0].matched);
    EXPECT_TRUE(contains(e.v.ingress.rules[0].reason, c.reason)) << e.v.ingress.rules[0].reason;
  }
}

TEST(ExplainTest, SummariesOfUngovernedSides) {
  const std::string deny = testing::np_doc("prod", "deny",
                                           "podSelector: {}, policyTypes: "
                                           "[Ingress, Egress]");
  const auto out = explain(deny, "8.8.8.8", "prod/host", 80);
  EXPECT_TRUE(out.v.allowed);
  EXPECT_TRUE(contains(out.v.egress.summary, "8.8.8.8 is outside the cluster")) << out.text;
  EXPECT_TRUE(contains(out.v.ingress.summary, "prod/host uses hostNetwork")) << out.text;
  EXPECT_TRUE(contains(out.text, "ALLOWED")) << out.text;

  const auto both = explain(deny, "prod/client", "prod/web", 80);
  EXPECT_FALSE(both.v.egress.allowed);
  EXPECT_FALSE(both.v.ingress.allowed);
  EXPECT_TRUE(contains(both.text, "neither does")) << both.text;
  EXPECT_TRUE(contains(both.v.ingress.summary, "isolated for ingress by 1 policy"))
      << both.v.ingress.summary;
}

TEST(ExplainTest, Descriptions) {
  Peer ns_and_pods{.pod_selector = LabelSelector{.match_labels = {{"a", "b"}}},
                   .namespace_selector = LabelSelector{}};
  EXPECT_EQ(describe_peer(ns_and_pods, "x"), "pods matching `a=b` in namespaces matching `(all)`");
  EXPECT_EQ(describe_peer(Peer{.pod_selector = LabelSelector{}}, "x"),
            "pods matching `(all)` in namespace x");
  EXPECT_EQ(describe_peer(Peer{.namespace_selector = LabelSelector{}}, "x"),
            "all pods in namespaces matching `(all)`");
  Peer block{.ip_block = IpBlock{.cidr = common::Cidr::parse("10.0.0.0/8")->cidr,
                                 .except = {common::Cidr::parse("10.1.0.0/16")->cidr,
                                            common::Cidr::parse("10.2.0.0/16")->cidr}}};
  EXPECT_EQ(describe_peer(block, "x"), "ipBlock 10.0.0.0/8 except 10.1.0.0/16, 10.2.0.0/16");
  EXPECT_EQ(describe_port(PolicyPort{}), "all TCP ports");
  EXPECT_EQ(describe_port(PolicyPort{.protocol = Protocol::kUDP, .port = int32_t{53}}), "UDP 53");
  EXPECT_EQ(describe_port(PolicyPort{.port = std::string("http")}), "TCP port named http");
  EXPECT_EQ(
      describe_port(PolicyPort{.protocol = Protocol::kSCTP, .port = int32_t{1}, .end_port = 9}),
      "SCTP 1-9");
}

}  // namespace
}  // namespace policy
