// Lint: warnings about valid policies that probably do not do what their author meant. Each
// warning fires on a positive example and stays quiet on a clean one.
#include "policy/lint.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cluster_fixture.h"

namespace policy {
namespace {

using testing::contains;

std::string NP(const char* ns, const char* name, const std::string& spec) {
  return testing::np_doc(ns, name, spec);
}

// Cluster DNS as kubeadm deploys it.
const char* kKubeDns = R"(
---
{apiVersion: v1, kind: Namespace, metadata: {name: kube-system}}
---
apiVersion: v1
kind: Pod
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  containers:
  - name: coredns
    ports:
    - {name: dns, containerPort: 53, protocol: UDP}
    - {name: dns-tcp, containerPort: 53, protocol: TCP}
status: {phase: Running, podIP: 10.0.0.10}
)";

const std::string kDnsRules = "{ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}";
std::string client_egress(const std::string& rules, const char* name = "client-out") {
  return NP(
      "prod", name,
      "podSelector: {matchLabels: {app: client}}, policyTypes: [Egress], egress: [" + rules + "]");
}
std::string web_ingress(const std::string& rules, const char* name = "web") {
  return NP("prod", name, "podSelector: {matchLabels: {app: web}}, ingress: [" + rules + "]");
}

struct Case {
  const char* name;
  std::string input;    // policies and extra objects, added to the base cluster
  std::string object;   // "NetworkPolicy ns/name" of the expected warning
  std::string field;    // its field path
  std::string message;  // substring; when `fires` is false, no warning may contain it
  bool fires;
};

std::vector<Case> cases() {
  const std::string kIngressAllAndBoth =
      web_ingress("{}", "ingress-all") +
      NP("prod", "both",
         "podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress, Egress], ingress: [{}], "
         "egress: [" +
             kDnsRules + "]");
  const std::string db_out = "{to: [{podSelector: {matchLabels: {app: db}}}]}, " + kDnsRules;
  return {
      // --- a policy that selects no pod ---
      {"selects no pod", NP("prod", "ghost", "podSelector: {matchLabels: {app: ghost}}"),
       "NetworkPolicy prod/ghost", "spec.podSelector",
       "selects no pod in namespace prod (`app=ghost`)", true},
      {"namespace without pods", NP("empty", "all", "podSelector: {}"), "NetworkPolicy empty/all",
       "spec.podSelector", "selects no pod in namespace empty", true},
      {"selects pods: clean", NP("prod", "web", "podSelector: {matchLabels: {app: web}}"), "", "",
       "selects no pod", false},
      // --- a peer that matches no pod or no namespace ---
      {"podSelector peer matches no pod",
       web_ingress("{from: [{podSelector: {matchLabels: "
                   "{app: ghost}}}]}"),
       "NetworkPolicy prod/web", "spec.ingress[0].from[0]",
       "matches no pod (pods matching `app=ghost` in namespace prod)", true},
      {"both selectors match no pod together",
       web_ingress("{from: [{podSelector: {}}, {namespaceSelector: {matchLabels: {team: b}}, "
                   "podSelector: {matchLabels: {app: db}}}]}"),
       "NetworkPolicy prod/web", "spec.ingress[0].from[1]", "matches no pod", true},
      {"namespaceSelector matches no namespace",
       client_egress("{to: [{podSelector: {}}, {namespaceSelector: {matchLabels: {env: "
                     "staging}}}]}, " +
                     kDnsRules),
       "NetworkPolicy prod/client-out", "spec.egress[0].to[1].namespaceSelector",
       "matches no namespace (`env=staging`)", true},
      {"peers that match: clean",
       web_ingress("{from: [{namespaceSelector: {matchLabels: {env: dev}}}, {podSelector: "
                   "{matchLabels: {app: client}}}]}"),
       "", "", "matches no", false},
      {"ipBlock peers are not checked", web_ingress("{from: [{ipBlock: {cidr: 192.0.2.0/24}}]}"),
       "", "", "matches no", false},
      // --- a named port that no pod declares ---
      {"named port nobody declares", web_ingress("{ports: [{port: 8080}, {port: grpc}]}"),
       "NetworkPolicy prod/web", "spec.ingress[0].ports[1].port",
       "no selected pod declares a TCP port named grpc, so this port admits nothing", true},
      {"named port declared for another protocol",
       web_ingress("{ports: [{protocol: UDP, port: "
                   "http}]}"),
       "NetworkPolicy prod/web", "spec.ingress[0].ports[0].port",
       "no selected pod declares a UDP port named http", true},
      {"named ports declared: clean",
       web_ingress("{ports: [{port: http}, {protocol: UDP, port: dns}]}"), "", "", "admits nothing",
       false},
      {"egress named port no destination declares",
       client_egress("{to: [{podSelector: {matchLabels: {app: db}}}], ports: [{port: "
                     "metrics}]}, " +
                     kDnsRules),
       "NetworkPolicy prod/client-out", "spec.egress[0].ports[0].port",
       "no destination pod declares a TCP port named metrics", true},
      {"egress named port a destination declares: clean",
       client_egress("{to: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: "
                     "metrics}]}, " +
                     kDnsRules),
       "", "", "admits nothing", false},
      // --- egress isolation that blocks DNS ---
      {"deny-all egress blocks DNS", client_egress(""), "NetworkPolicy prod/client-out",
       "spec.egress", "no rule allows DNS (UDP/53 and TCP/53)", true},
      // Without cluster DNS pods in the input, any destination a rule names may be the DNS
      // server: a rule that admits every port to db admits DNS.
      {"all ports to db without a DNS pod: clean",
       client_egress("{to: [{podSelector: {matchLabels: {app: db}}}]}"), "", "",
       "no rule allows DNS", false},
      {"with kube-dns: all ports to db blocks DNS",
       client_egress("{to: [{podSelector: {matchLabels: {app: db}}}]}") + kKubeDns,
       "NetworkPolicy prod/client-out", "spec.egress",
       "no rule allows DNS (UDP/53 and TCP/53 to kube-system/coredns)", true},
      {"UDP only", client_egress("{ports: [{protocol: UDP, port: 53}]}"),
       "NetworkPolicy prod/client-out", "spec.egress", "no rule allows DNS (TCP/53)", true},
      {"port 53 to anywhere without a DNS pod: clean", client_egress(db_out), "", "",
       "no rule allows DNS", false},
      {"a rule without ports: clean", client_egress("{to: [{ipBlock: {cidr: 10.0.0.10/32}}]}"), "",
       "", "no rule allows DNS", false},
      {"ingress-only policies: clean", NP("prod", "deny", "podSelector: {}"), "", "",
       "no rule allows DNS", false},
      {"with kube-dns: port 53 elsewhere blocks DNS",
       client_egress("{to: [{ipBlock: {cidr: 8.8.8.8/32}}], ports: [{protocol: UDP, port: 53}, "
                     "{port: 53}]}") +
           kKubeDns,
       "NetworkPolicy prod/client-out", "spec.egress",
       "no rule allows DNS (UDP/53 and TCP/53 to kube-system/coredns)", true},
      {"with kube-dns: rule to kube-dns: clean",
       client_egress("{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "
                     "kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}], "
                     "ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}") +
           kKubeDns,
       "", "", "no rule allows DNS", false},
      {"with kube-dns: named DNS ports resolve on kube-dns: clean",
       client_egress("{to: [{namespaceSelector: {}}], ports: [{protocol: UDP, port: dns}, {port: "
                     "dns-tcp}]}") +
           kKubeDns,
       "", "", "no rule allows DNS", false},
      // --- a policy made redundant by another ---
      {"allow-all ingress makes a narrower policy redundant",
       web_ingress("{}", "allow-all") +
           web_ingress("{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: "
                       "8080}]}",
                       "narrow"),
       "NetworkPolicy prod/narrow", "spec",
       "redundant: prod/allow-all already isolates every pod this policy selects", true},
      {"allow-all over a wider selector",
       NP("prod", "all", "podSelector: {}, ingress: [{}]") +
           web_ingress("{ports: [{protocol: UDP}]}", "narrow"),
       "NetworkPolicy prod/narrow", "spec", "redundant: prod/all", true},
      {"a deny-all over pods already isolated adds nothing",
       NP("prod", "deny-web", "podSelector: {matchLabels: {app: web}}") +
           web_ingress("{from: [{podSelector: {}}]}", "web"),
       "NetworkPolicy prod/deny-web", "spec", "redundant: prod/web", true},
      {"a wider endPort range covers a port",
       web_ingress("{ports: [{port: 8000, endPort: 9000}]}", "a") +
           web_ingress("{ports: [{port: 8080}, {port: 8100, endPort: 8200}]}", "b"),
       "NetworkPolicy prod/b", "spec", "redundant: prod/a", true},
      {"different rules: clean",
       web_ingress("{from: [{podSelector: {matchLabels: {app: client}}}]}", "a") +
           web_ingress("{from: [{podSelector: {matchLabels: {app: db}}}]}", "b"),
       "", "", "redundant", false},
      {"the narrower policy selects more pods: clean",
       web_ingress("{}", "web-all") +
           NP("prod", "all-from-client",
              "podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]"),
       "", "", "redundant", false},
      // ingress-all adds nothing to `both`; `both` isolates egress too, so it is not redundant.
      {"the policy that also isolates egress makes the ingress-only one redundant",
       kIngressAllAndBoth, "NetworkPolicy prod/ingress-all", "spec", "redundant: prod/both", true},
      {"the policy that also isolates egress is not redundant", kIngressAllAndBoth, "", "",
       "redundant: prod/ingress-all", false},
      {"same policy in two namespaces: clean",
       NP("prod", "deny", "podSelector: {}") + NP("dev", "deny", "podSelector: {}"), "", "",
       "redundant", false},
  };
}

TEST(LintTest, WarningsTable) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    const auto r = testing::load_cluster(c.input);
    ASSERT_TRUE(r.ok()) << testing::all_errors(r);
    const Evaluator ev(r.cluster);
    const auto diags = lint(ev);
    std::string all;
    for (const auto& d : diags) all += "  " + d.str() + "\n";
    if (c.fires) {
      size_t n = 0;
      for (const auto& d : diags) {
        if (d.object == c.object && d.error.field == c.field &&
            contains(d.error.message, c.message)) {
          ++n;
          EXPECT_EQ(d.source, "");
        }
      }
      EXPECT_EQ(n, 1u) << "want exactly one " << c.object << ": " << c.field << ": ..." << c.message
                       << "...\ngot:\n"
                       << all;
    } else {
      for (const auto& d : diags) {
        EXPECT_FALSE(contains(d.error.message, c.message)) << "unexpected: " << d.str();
      }
    }
  }
}

TEST(LintTest, DuplicatePolicyReportedOnce) {
  const std::string spec =
      "podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: "
      "{app: client}}}]}]";
  const auto r = testing::load_cluster(NP("prod", "a", spec) + NP("prod", "b", spec));
  ASSERT_TRUE(r.ok());
  const Evaluator ev(r.cluster);
  std::vector<Diagnostic> redundant;
  for (const auto& d : lint(ev)) {
    if (contains(d.error.message, "redundant")) redundant.push_back(d);
  }
  ASSERT_EQ(redundant.size(), 1u);
  // The later of the two is reported, naming the earlier.
  EXPECT_EQ(redundant[0].object, "NetworkPolicy prod/b");
  EXPECT_TRUE(contains(redundant[0].error.message, "redundant: prod/a ")) << redundant[0].str();
}

TEST(LintTest, CleanClusterHasNoWarnings) {
  const auto r = testing::load_cluster(
      NP("prod", "web",
         "podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: "
         "{matchLabels: {app: client}}}], ports: [{port: http}]}]") +
      client_egress("{to: [{podSelector: {matchLabels: {app: web}}}]}, " + kDnsRules));
  ASSERT_TRUE(r.ok());
  const Evaluator ev(r.cluster);
  const auto diags = lint(ev);
  for (const auto& d : diags) ADD_FAILURE() << d.str();
}

TEST(LintTest, NoPodsSkipsPodChecks) {
  const auto r = testing::load(NP("prod", "ghost",
                                  "podSelector: {matchLabels: {app: ghost}}, "
                                  "ingress: [{ports: [{port: grpc}]}]"));
  ASSERT_TRUE(r.ok());
  const Evaluator ev(r.cluster);
  const auto diags = lint(ev);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_TRUE(contains(diags[0].error.message, "the input has no pods")) << diags[0].str();
}

TEST(LintTest, DnsWarningListsEachPodOnce) {
  // Two policies isolate the clients' egress; each pod is reported under the first one only.
  const auto r = testing::load_cluster(client_egress("", "a-first") +
                                       client_egress("{ports: [{port: 80}]}", "b-second"));
  ASSERT_TRUE(r.ok());
  const Evaluator ev(r.cluster);
  std::vector<Diagnostic> dns;
  for (const auto& d : lint(ev)) {
    if (contains(d.error.message, "DNS")) dns.push_back(d);
  }
  ASSERT_EQ(dns.size(), 1u);
  EXPECT_EQ(dns[0].object, "NetworkPolicy prod/a-first");
  // The isolated clients are named (three at most, then a count); the hostNetwork pod, which
  // no policy isolates, is not.
  EXPECT_TRUE(contains(dns[0].error.message, "egress of prod/client, ")) << dns[0].str();
  EXPECT_TRUE(contains(dns[0].error.message, " more is isolated")) << dns[0].str();
  EXPECT_FALSE(contains(dns[0].error.message, "prod/host")) << dns[0].str();
}

}  // namespace
}  // namespace policy
