// API-server validation of NetworkPolicy, Pod and Namespace manifests, through the loader:
// every bad input is rejected with the API server's field path and message.
#include "policy/validation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace policy {
namespace {

using testing::find_error;
using testing::load;

std::string NP(const std::string& spec) {
  return testing::np_doc("ns", "p", spec);
}
std::string NP_META(const std::string& meta) {
  return "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: " + meta +
         ", spec: {}}\n";
}
std::string POD(const std::string& body) {
  return "{apiVersion: v1, kind: Pod, metadata: {name: pod, namespace: ns, labels: {app: x}}, " +
         body + "}\n";
}
std::string NS(const std::string& meta) {
  return "{apiVersion: v1, kind: Namespace, metadata: " + meta + "}\n";
}

struct InvalidCase {
  std::string name;
  std::string doc;
  std::string field;    // exact field path
  std::string message;  // substring of the message
};

std::vector<InvalidCase> invalid_cases() {
  const std::string a64(64, 'a');
  return {
      // --- label selectors (apimachinery ValidateLabelSelector) ---
      {"matchLabels key with space", NP("podSelector: {matchLabels: {'a b': x}}"),
       "spec.podSelector.matchLabels", "name part must consist of alphanumeric characters"},
      {"matchLabels key empty prefix", NP("podSelector: {matchLabels: {'/app': x}}"),
       "spec.podSelector.matchLabels", "prefix part must be non-empty"},
      {"matchLabels key uppercase prefix", NP("podSelector: {matchLabels: {'Example.com/a': x}}"),
       "spec.podSelector.matchLabels", "prefix part a lowercase RFC 1123 subdomain"},
      {"matchLabels key empty name", NP("podSelector: {matchLabels: {'example.com/': x}}"),
       "spec.podSelector.matchLabels", "name part must be non-empty"},
      {"matchLabels key name too long", NP("podSelector: {matchLabels: {" + a64 + ": x}}"),
       "spec.podSelector.matchLabels", "name part must be no more than 63 characters"},
      {"matchLabels value leading dash", NP("podSelector: {matchLabels: {app: '-web'}}"),
       "spec.podSelector.matchLabels[app]", "a valid label must be an empty string"},
      {"matchLabels value with slash", NP("podSelector: {matchLabels: {app: 'a/b'}}"),
       "spec.podSelector.matchLabels[app]", "a valid label must be an empty string"},
      {"matchLabels value too long", NP("podSelector: {matchLabels: {app: " + a64 + "}}"),
       "spec.podSelector.matchLabels[app]", "must be no more than 63 characters"},
      {"matchLabels value a number", NP("podSelector: {matchLabels: {app: 5}}"),
       "spec.podSelector.matchLabels[app]", "must be a string, not a number"},
      {"matchLabels a list", NP("podSelector: {matchLabels: [a]}"), "spec.podSelector.matchLabels",
       "must be a map of strings, not a list"},
      {"expression bad key",
       NP("podSelector: {matchExpressions: [{key: 'a b', operator: Exists}]}"),
       "spec.podSelector.matchExpressions[0].key", "name part must consist"},
      {"expression without key", NP("podSelector: {matchExpressions: [{operator: Exists}]}"),
       "spec.podSelector.matchExpressions[0].key", "Required value"},
      // API: "Valid operators are In, NotIn, Exists and DoesNotExist."
      {"unknown operator",
       NP("podSelector: {matchExpressions: [{key: a, operator: Equals, values: [x]}]}"),
       "spec.podSelector.matchExpressions[0].operator", "Unsupported value: \"Equals\""},
      {"operator lowercase",
       NP("podSelector: {matchExpressions: [{key: a, operator: in, values: [x]}]}"),
       "spec.podSelector.matchExpressions[0].operator", "Unsupported value: \"in\""},
      {"operator missing", NP("podSelector: {matchExpressions: [{key: a, values: [x]}]}"),
       "spec.podSelector.matchExpressions[0].operator", "Required value"},
      // API: "If the operator is In or NotIn, the values array must be non-empty."
      {"In without values", NP("podSelector: {matchExpressions: [{key: a, operator: In}]}"),
       "spec.podSelector.matchExpressions[0].values",
       "must be specified when `operator` is 'In' or 'NotIn'"},
      {"NotIn with empty values",
       NP("podSelector: {matchExpressions: [{key: a, operator: NotIn, values: []}]}"),
       "spec.podSelector.matchExpressions[0].values", "must be specified"},
      // API: "If the operator is Exists or DoesNotExist, the values array must be empty."
      {"Exists with values",
       NP("podSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}"),
       "spec.podSelector.matchExpressions[0].values",
       "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"},
      {"DoesNotExist with values",
       NP("ingress: [{from: [{podSelector: {matchExpressions: [{key: a, operator: "
          "DoesNotExist, values: [x]}]}}]}]"),
       "spec.ingress[0].from[0].podSelector.matchExpressions[0].values", "may not be specified"},
      {"bad value in values",
       NP("podSelector: {matchExpressions: [{key: a, operator: In, values: [ok, 'b@d']}]}"),
       "spec.podSelector.matchExpressions[0].values[1]", "a valid label"},
      {"unknown expression field",
       NP("podSelector: {matchExpressions: [{key: a, operator: In, value: [x]}]}"),
       "spec.podSelector.matchExpressions[0].value", "unknown field \"value\""},
      {"namespaceSelector bad key",
       NP("ingress: [{from: [{namespaceSelector: {matchLabels: {'a b': x}}}]}]"),
       "spec.ingress[0].from[0].namespaceSelector.matchLabels", "name part"},
      // --- ports (ValidateNetworkPolicyPort) ---
      {"port 0", NP("ingress: [{ports: [{port: 0}]}]"), "spec.ingress[0].ports[0].port",
       "must be between 1 and 65535, inclusive"},
      {"port 65536", NP("ingress: [{ports: [{port: 65536}]}]"), "spec.ingress[0].ports[0].port",
       "must be between 1 and 65535, inclusive"},
      {"port negative", NP("ingress: [{ports: [{port: -1}]}]"), "spec.ingress[0].ports[0].port",
       "must be between 1 and 65535"},
      {"egress port 70000", NP("egress: [{ports: [{protocol: UDP, port: 70000}]}]"),
       "spec.egress[0].ports[0].port", "must be between 1 and 65535"},
      // IANA_SVC_NAME: "at most 15 characters, matching [a-z0-9]([a-z0-9-]*[a-z0-9])*, at
      // least one letter, no consecutive hyphens".
      {"port name uppercase", NP("ingress: [{ports: [{port: HTTP}]}]"),
       "spec.ingress[0].ports[0].port",
       "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"},
      {"port name underscore", NP("ingress: [{ports: [{port: my_port}]}]"),
       "spec.ingress[0].ports[0].port", "must contain only alpha-numeric characters"},
      {"port name too long", NP("ingress: [{ports: [{port: abcdefghijklmnop}]}]"),
       "spec.ingress[0].ports[0].port", "must be no more than 15 characters"},
      {"port name without letter", NP("ingress: [{ports: [{port: '8080'}]}]"),
       "spec.ingress[0].ports[0].port", "must contain at least one letter (a-z)"},
      {"port name double hyphen", NP("ingress: [{ports: [{port: a--b}]}]"),
       "spec.ingress[0].ports[0].port", "must not contain consecutive hyphens"},
      {"port name leading hyphen", NP("ingress: [{ports: [{port: -http}]}]"),
       "spec.ingress[0].ports[0].port", "must not begin or end with a hyphen"},
      {"port name trailing hyphen", NP("ingress: [{ports: [{port: http-}]}]"),
       "spec.ingress[0].ports[0].port", "must not begin or end with a hyphen"},
      {"port a boolean", NP("ingress: [{ports: [{port: true}]}]"), "spec.ingress[0].ports[0].port",
       "not a boolean"},
      {"port a float", NP("ingress: [{ports: [{port: 80.5}]}]"), "spec.ingress[0].ports[0].port",
       "must be an integer"},
      // API: "endPort ... cannot be defined if the port field is not defined or if the port
      // field is defined as a named (string) port", "must be equal or greater than port".
      {"endPort without port", NP("ingress: [{ports: [{endPort: 90}]}]"),
       "spec.ingress[0].ports[0].endPort", "may not be specified when `port` is not specified"},
      {"endPort with named port", NP("ingress: [{ports: [{port: http, endPort: 90}]}]"),
       "spec.ingress[0].ports[0].endPort", "may not be specified when `port` is non-numeric"},
      {"endPort below port", NP("egress: [{ports: [{port: 90, endPort: 80}]}]"),
       "spec.egress[0].ports[0].endPort", "must be greater than or equal to `port`"},
      {"endPort 65536", NP("ingress: [{ports: [{port: 80, endPort: 65536}]}]"),
       "spec.ingress[0].ports[0].endPort", "must be between 1 and 65535"},
      {"endPort a string", NP("ingress: [{ports: [{port: 80, endPort: x}]}]"),
       "spec.ingress[0].ports[0].endPort", "must be an integer"},
      // API: "protocol ... must be TCP, UDP, or SCTP", case-sensitive.
      {"protocol tcp", NP("ingress: [{ports: [{protocol: tcp}]}]"),
       "spec.ingress[0].ports[0].protocol", "Unsupported value: \"tcp\""},
      {"protocol ICMP", NP("ingress: [{ports: [{protocol: ICMP, port: 1}]}]"),
       "spec.ingress[0].ports[0].protocol", "Unsupported value: \"ICMP\""},
      {"protocol a number", NP("ingress: [{ports: [{protocol: 6}]}]"),
       "spec.ingress[0].ports[0].protocol", "must be a string"},
      // --- peers (ValidateNetworkPolicyPeer, ValidateIPBlock) ---
      {"peer with nothing", NP("ingress: [{from: [{}]}]"), "spec.ingress[0].from[0]",
       "must specify a peer"},
      {"egress peer with nothing", NP("egress: [{to: [{podSelector: {}}, {}]}]"),
       "spec.egress[0].to[1]", "must specify a peer"},
      // API (ipBlock): "... cannot be combined with podSelector or namespaceSelector".
      {"ipBlock and podSelector",
       NP("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]"),
       "spec.ingress[0].from[0]", "may not specify both ipBlock and another peer"},
      {"ipBlock and namespaceSelector",
       NP("egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}, namespaceSelector: {}}]}]"),
       "spec.egress[0].to[0]", "may not specify both ipBlock and another peer"},
      {"ipBlock without cidr", NP("ingress: [{from: [{ipBlock: {except: [10.0.0.0/24]}}]}]"),
       "spec.ingress[0].from[0].ipBlock.cidr", "Required value"},
      {"cidr prefix 33", NP("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]"),
       "spec.ingress[0].from[0].ipBlock.cidr", "must be a valid CIDR value"},
      {"cidr without prefix", NP("ingress: [{from: [{ipBlock: {cidr: 10.0.0.1}}]}]"),
       "spec.ingress[0].from[0].ipBlock.cidr", "must be a valid CIDR value"},
      {"cidr leading zero", NP("ingress: [{from: [{ipBlock: {cidr: 010.0.0.0/8}}]}]"),
       "spec.ingress[0].from[0].ipBlock.cidr", "must be a valid CIDR value"},
      {"cidr a number", NP("ingress: [{from: [{ipBlock: {cidr: 10}}]}]"),
       "spec.ingress[0].from[0].ipBlock.cidr", "must be a string"},
      // API (except): "Except values will be rejected if they are outside the cidr range";
      // validation: "must be a strict subset of `cidr`".
      {"except outside cidr",
       NP("ingress: [{from: [{podSelector: {}}, {ipBlock: {cidr: 10.0.0.0/16, except: "
          "[10.1.0.0/24]}}]}]"),
       "spec.ingress[0].from[1].ipBlock.except[0]", "must be a strict subset of `cidr`"},
      {"except equal to cidr",
       NP("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}}]}]"),
       "spec.ingress[0].from[0].ipBlock.except[0]", "must be a strict subset of `cidr`"},
      {"except wider than cidr",
       NP("egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/24, 10.0.0.0/8]}}]}]"),
       "spec.egress[0].to[0].ipBlock.except[1]", "must be a strict subset of `cidr`"},
      {"except of another family",
       NP("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: ['fd00::/64']}}]}]"),
       "spec.ingress[0].from[0].ipBlock.except[0]", "must be a strict subset of `cidr`"},
      {"except IPv6 outside",
       NP("ingress: [{from: [{ipBlock: {cidr: 'fd00::/64', except: ['fd01::/80']}}]}]"),
       "spec.ingress[0].from[0].ipBlock.except[0]", "must be a strict subset of `cidr`"},
      {"except not a cidr",
       NP("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, x]}}]}]"),
       "spec.ingress[0].from[0].ipBlock.except[1]", "must be a valid CIDR value"},
      // --- policyTypes ---
      {"policyTypes lowercase", NP("policyTypes: [ingress]"), "spec.policyTypes[0]",
       "Unsupported value: \"ingress\""},
      {"policyTypes second bad", NP("policyTypes: [Ingress, Both]"), "spec.policyTypes[1]",
       "supported values: \"Egress\", \"Ingress\""},
      {"three policyTypes", NP("policyTypes: [Ingress, Egress, Ingress]"), "spec.policyTypes",
       "may not have more than 2 items"},
      {"policyTypes a string", NP("policyTypes: Ingress"), "spec.policyTypes",
       "must be a list, not a string"},
      // --- unknown fields (kubectl apply --validate=strict) and wrong types ---
      {"unknown peer field", NP("ingress: [{from: [{namespaceselector: {}}]}]"),
       "spec.ingress[0].from[0].namespaceselector", "unknown field \"namespaceselector\""},
      {"unknown spec field", NP("podselector: {}"), "spec.podselector",
       "unknown field \"podselector\""},
      {"unknown rule field", NP("egress: [{too: []}]"), "spec.egress[0].too", "unknown field"},
      {"ingress rule with to", NP("ingress: [{to: []}]"), "spec.ingress[0].to", "unknown field"},
      {"unknown port field", NP("ingress: [{ports: [{port: 80, end_port: 90}]}]"),
       "spec.ingress[0].ports[0].end_port", "unknown field"},
      {"unknown ipBlock field",
       NP("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, excepts: []}}]}]"),
       "spec.ingress[0].from[0].ipBlock.excepts", "unknown field"},
      {"unknown selector field", NP("podSelector: {matchlabels: {a: b}}"),
       "spec.podSelector.matchlabels", "unknown field"},
      {"ingress a string", NP("ingress: x"), "spec.ingress", "must be a list, not a string"},
      {"egress an object", NP("egress: {a: b}"), "spec.egress", "must be a list, not an object"},
      {"from an object", NP("ingress: [{from: {podSelector: {}}}]"), "spec.ingress[0].from",
       "must be a list"},
      {"ports a string", NP("ingress: [{ports: '80'}]"), "spec.ingress[0].ports", "must be a list"},
      {"rule a string", NP("ingress: [x]"), "spec.ingress[0]", "must be an object"},
      {"peer a list", NP("ingress: [{from: [[]]}]"), "spec.ingress[0].from[0]",
       "must be an object"},
      {"podSelector a string", NP("podSelector: all"), "spec.podSelector", "must be an object"},
      {"spec a list",
       "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p}, spec: []}",
       "spec", "must be an object, not a list"},
      // --- metadata (ValidateObjectMeta: names are DNS subdomains, namespaces DNS labels) ---
      {"missing metadata.name", NP_META("{namespace: ns}"), "metadata.name", "Required value"},
      {"missing metadata", "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, spec: {}}",
       "metadata.name", "Required value"},
      {"name a number", NP_META("{name: 5}"), "metadata.name", "must be a string"},
      {"name uppercase", NP_META("{name: Deny}"), "metadata.name", "RFC 1123 subdomain"},
      {"name underscore", NP_META("{name: deny_all}"), "metadata.name", "RFC 1123 subdomain"},
      {"name too long", NP_META("{name: " + std::string(254, 'a') + "}"), "metadata.name",
       "must be no more than 253 characters"},
      {"bad namespace name", NP_META("{name: p, namespace: Prod}"), "metadata.namespace",
       "RFC 1123 label"},
      {"namespace with dot", NP_META("{name: p, namespace: a.b}"), "metadata.namespace",
       "RFC 1123 label"},
      {"namespace too long", NP_META("{name: p, namespace: " + a64 + "}"), "metadata.namespace",
       "must be no more than 63 characters"},
      {"wrong apiVersion",
       "{apiVersion: extensions/v1beta1, kind: NetworkPolicy, metadata: {name: p}}", "apiVersion",
       "Unsupported value: \"extensions/v1beta1\": supported values: "
       "\"networking.k8s.io/v1\""},
      {"missing apiVersion", "{kind: NetworkPolicy, metadata: {name: p}}", "apiVersion",
       "Unsupported value: \"\""},
      {"pod with apps/v1", "{apiVersion: apps/v1, kind: Pod, metadata: {name: x}}", "apiVersion",
       "supported values: \"v1\""},
      {"missing kind", "{apiVersion: networking.k8s.io/v1, metadata: {name: p}, spec: {}}", "kind",
       "Required value"},
      {"kind a number", "{apiVersion: v1, kind: 5, metadata: {name: p}}", "kind", "Required value"},
      // --- namespaces ---
      {"namespace object dotted name", NS("{name: a.b}"), "metadata.name", "RFC 1123 label"},
      {"namespace object bad label", NS("{name: a, labels: {'a b': x}}"), "metadata.labels",
       "name part"},
      // --- pods (lenient, but what enforcement uses is validated) ---
      {"pod bad podIP", POD("status: {podIP: 10.0.0.300}"), "status.podIP",
       "must be a valid IP address"},
      {"pod podIP leading zero", POD("status: {podIP: 10.0.0.01}"), "status.podIP",
       "must be a valid IP address"},
      {"pod bad podIPs entry", POD("status: {podIPs: [{ip: 10.0.0.1}, {ip: 'fd00::zz'}]}"),
       "status.podIPs[1].ip", "must be a valid IP address"},
      {"pod containerPort 0", POD("spec: {containers: [{name: c, ports: [{containerPort: 0}]}]}"),
       "spec.containers[0].ports[0].containerPort", "must be between 1 and 65535"},
      {"pod containerPort 65536",
       POD("spec: {containers: [{name: a}, {name: c, ports: [{containerPort: 65536}]}]}"),
       "spec.containers[1].ports[0].containerPort", "must be between 1 and 65535"},
      {"pod containerPort missing", POD("spec: {containers: [{name: c, ports: [{name: http}]}]}"),
       "spec.containers[0].ports[0].containerPort", "Required value"},
      {"pod port name uppercase",
       POD("spec: {containers: [{name: c, ports: [{name: HTTP, containerPort: 80}]}]}"),
       "spec.containers[0].ports[0].name", "must contain only alpha-numeric"},
      {"pod port protocol lowercase",
       POD("spec: {containers: [{name: c, ports: [{containerPort: 80, protocol: udp}]}]}"),
       "spec.containers[0].ports[0].protocol", "Unsupported value: \"udp\""},
      {"pod sidecar containerPort 0",
       POD("spec: {initContainers: [{name: i, restartPolicy: Always, ports: [{containerPort: "
           "0}]}]}"),
       "spec.initContainers[0].ports[0].containerPort", "must be between 1 and 65535"},
      {"pod hostNetwork a string", POD("spec: {hostNetwork: 'true'}"), "spec.hostNetwork",
       "must be a boolean"},
      {"pod bad label value",
       "{apiVersion: v1, kind: Pod, metadata: {name: x, labels: {app: 'a b'}}}",
       "metadata.labels[app]", "a valid label"},
      {"pod bad name", "{apiVersion: v1, kind: Pod, metadata: {name: X}}", "metadata.name",
       "RFC 1123 subdomain"},
  };
}

TEST(ValidationTest, EveryBadInputIsRejectedWithItsFieldPath) {
  const auto cases = invalid_cases();
  EXPECT_GE(cases.size(), 35u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name + "\n" + c.doc);
    const auto r = load(c.doc);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(find_error(r, c.field, c.message), nullptr)
        << "want " << c.field << ": ..." << c.message << "...\ngot:\n"
        << testing::all_errors(r);
    // The object is not loaded, and every error says where it comes from.
    EXPECT_TRUE(r.cluster.policies.empty());
    EXPECT_TRUE(r.cluster.pods.empty());
    for (const auto& [name, ns] : r.cluster.namespaces) EXPECT_FALSE(ns.declared) << name;
    for (const auto& d : r.errors) {
      EXPECT_EQ(d.source, "test.yaml");
      EXPECT_FALSE(d.error.message.empty());
    }
  }
}

TEST(ValidationTest, ErrorNamesTheObject) {
  const auto r = load(NP("ingress: [{ports: [{port: 0}]}]"));
  ASSERT_EQ(r.errors.size(), 1u) << testing::all_errors(r);
  EXPECT_EQ(r.errors[0].object, "NetworkPolicy ns/p");
  EXPECT_EQ(r.errors[0].str(),
            "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].port: Invalid value: 0: "
            "must be between 1 and 65535, inclusive");
}

// Valid input, including the boundaries of each rule, loads without errors.
TEST(ValidationTest, ValidBoundariesAreAccepted) {
  const std::string a63(63, 'a');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"spec {}", NP("")},
      {"no spec", "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p}}"},
      {"ports 1 and 65535", NP("ingress: [{ports: [{port: 1}, {port: 65535, protocol: SCTP}]}]")},
      {"endPort equal to port", NP("ingress: [{ports: [{port: 80, endPort: 80}]}]")},
      {"endPort 65535", NP("egress: [{ports: [{port: 1, endPort: 65535, protocol: UDP}]}]")},
      {"port name 15 chars", NP("ingress: [{ports: [{port: abcdefghijklmno}]}]")},
      {"port name digits and one letter", NP("ingress: [{ports: [{port: 8080a}]}]")},
      {"port name single hyphens", NP("ingress: [{ports: [{port: a-b-1}]}]")},
      {"label value empty", NP("podSelector: {matchLabels: {app: ''}}")},
      {"label value 63", NP("podSelector: {matchLabels: {app: " + a63 + "}}")},
      {"label value mixed", NP("podSelector: {matchLabels: {app: A_b.c-9}}")},
      {"prefixed label key", NP("podSelector: {matchLabels: {'app.example.com/Tier_1': x}}")},
      {"label key name 63", NP("podSelector: {matchLabels: {" + a63 + ": x}}")},
      {"all operators",
       NP("podSelector: {matchExpressions: [{key: a, operator: In, values: [x]}, {key: b, "
          "operator: NotIn, values: [y, '']}, {key: c, operator: Exists}, {key: d, operator: "
          "DoesNotExist, values: []}]}")},
      {"policyTypes both", NP("policyTypes: [Egress, Ingress]")},
      {"policyTypes repeated", NP("policyTypes: [Ingress, Ingress]")},
      {"policyTypes empty", NP("policyTypes: []")},
      {"empty rules", NP("ingress: [{}], egress: [{to: [], ports: []}]")},
      {"nulls are absent", NP("podSelector: null, ingress: [{from: null, ports: ~}]")},
      {"cidr with host bits", NP("ingress: [{from: [{ipBlock: {cidr: 10.244.1.10/4}}]}]")},
      {"except nested", NP("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, "
                           "10.2.3.4/32]}}]}]")},
      {"ipv6 except", NP("ingress: [{from: [{ipBlock: {cidr: 'fd00::/48', except: "
                         "['fd00::/64']}}]}]")},
      {"podSelector and namespaceSelector",
       NP("egress: [{to: [{podSelector: {}, namespaceSelector: {}}]}]")},
      {"name with dots", NP_META("{name: a.b-c.d, namespace: " + a63 + "}")},
      {"name 253 chars",
       NP_META("{name: " + a63 + "." + a63 + "." + a63 + "." + std::string(61, 'b') + "}")},
      {"pod with unknown fields",
       POD("spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 80, name: "
           "http}]}], dnsPolicy: X}, status: {phase: Running, podIP: ''}")},
      {"namespace", NS("{name: prod, labels: {team: a}}")},
  };
  for (const auto& [name, doc] : cases) {
    SCOPED_TRACE(name + "\n" + doc);
    const auto r = load(doc);
    EXPECT_TRUE(r.ok()) << testing::all_errors(r);
    EXPECT_EQ(r.cluster.policies.size() + r.cluster.pods.size() +
                  (r.cluster.namespaces.count("prod") ? 1 : 0),
              1u);
  }
}

// IsDNS1123Subdomain (object names, label key prefixes) is
// "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*" of at most 253 characters:
// unlike a DNS label, one dot-separated segment may be longer than 63 characters.
TEST(ValidationTest, LongSubdomainSegmentsAreValid) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"policy name of 100 chars without dots", NP_META("{name: " + std::string(100, 'a') + "}")},
      {"pod name of 64 chars",
       "{apiVersion: v1, kind: Pod, metadata: {name: " + std::string(64, 'p') + "}}"},
      {"label key prefix with a 64-char segment",
       NP("podSelector: {matchLabels: {'" + std::string(64, 'a') + ".com/app': x}}")},
  };
  for (const auto& [name, doc] : cases) {
    SCOPED_TRACE(name);
    const auto r = load(doc);
    EXPECT_TRUE(r.ok()) << testing::all_errors(r);
    EXPECT_EQ(r.cluster.policies.size() + r.cluster.pods.size(), 1u);
  }
}

// IsValidPortName(""): "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
// and "must contain at least one letter (a-z)"; the 15-character limit holds.
TEST(ValidationTest, EmptyPortNameMessage) {
  const auto r = load(NP("ingress: [{ports: [{port: ''}]}]"));
  EXPECT_TRUE(r.cluster.policies.empty());
  const auto* e = find_error(r, "spec.ingress[0].ports[0].port", "");
  ASSERT_NE(e, nullptr) << testing::all_errors(r);
  EXPECT_TRUE(testing::contains(e->error.message, "must contain")) << e->str();
  EXPECT_FALSE(testing::contains(e->error.message, "no more than 15 characters")) << e->str();
}

// "Several errors in one object are all reported", as the API server's field.ErrorList does.
TEST(ValidationTest, AllErrorsOfOnePolicyAreReported) {
  const auto r = load(
      "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: Bad, namespace: "
      "ns}, spec: {podSelector: {matchLabels: {'a b': x}}, ingress: [{ports: [{port: 0}, {port: "
      "http, endPort: 9}]}], egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}, "
      "{}]}], policyTypes: [Ingress, Sideways], bogus: 1}}");
  const std::pair<const char*, const char*> want[] = {
      {"metadata.name", "RFC 1123 subdomain"},
      {"spec.podSelector.matchLabels", "name part"},
      {"spec.ingress[0].ports[0].port", "between 1 and 65535"},
      {"spec.ingress[0].ports[1].endPort", "non-numeric"},
      {"spec.egress[0].to[0].ipBlock.except[0]", "strict subset"},
      {"spec.egress[0].to[1]", "must specify a peer"},
      {"spec.policyTypes[1]", "Unsupported value: \"Sideways\""},
      {"spec.bogus", "unknown field"},
  };
  for (const auto& [field, msg] : want) {
    EXPECT_NE(find_error(r, field, msg), nullptr) << field << "\n" << testing::all_errors(r);
  }
  EXPECT_EQ(r.errors.size(), std::size(want)) << testing::all_errors(r);
  EXPECT_TRUE(r.cluster.policies.empty());
}

// Errors within one port or one peer: ValidateNetworkPolicyPort and ValidateNetworkPolicyPeer
// append every problem of the element, they do not stop at the first.
TEST(ValidationTest, AllErrorsOfOneElementAreReported) {
  struct Case {
    const char* name;
    std::string spec;
    std::vector<std::pair<std::string, std::string>> errors;
  };
  const Case cases[] = {
      {"bad protocol and port 0",
       "ingress: [{ports: [{protocol: tcp, port: 0}]}]",
       {{"spec.ingress[0].ports[0].protocol", "Unsupported value"},
        {"spec.ingress[0].ports[0].port", "between 1 and 65535"}}},
      {"port 70000 and endPort below it",
       "ingress: [{ports: [{port: 70000, endPort: 80}]}]",
       {{"spec.ingress[0].ports[0].port", "between 1 and 65535"},
        {"spec.ingress[0].ports[0].endPort", "greater than or equal"}}},
      {"bad cidr combined with podSelector",
       "ingress: [{from: [{ipBlock: {cidr: nonsense}, podSelector: {}}]}]",
       {{"spec.ingress[0].from[0].ipBlock.cidr", "valid CIDR"},
        {"spec.ingress[0].from[0]", "may not specify both ipBlock and another peer"}}},
      {"two bad selectors in one peer",
       "ingress: [{from: [{podSelector: {matchLabels: {'a b': x}}, namespaceSelector: "
       "{matchLabels: {c: '-'}}}]}]",
       {{"spec.ingress[0].from[0].podSelector.matchLabels", "name part"},
        {"spec.ingress[0].from[0].namespaceSelector.matchLabels[c]", "a valid label"}}},
      {"bad key and bad operator",
       "podSelector: {matchExpressions: [{key: 'a b', operator: Has}]}",
       {{"spec.podSelector.matchExpressions[0].key", "name part"},
        {"spec.podSelector.matchExpressions[0].operator", "Unsupported value"}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto r = load(NP(c.spec));
    for (const auto& [field, msg] : c.errors) {
      EXPECT_NE(find_error(r, field, msg), nullptr) << field << "\n" << testing::all_errors(r);
    }
  }
}

TEST(ValidationTest, SyntaxHelpersTable) {
  using namespace validation;
  const std::string a63(63, 'a');
  EXPECT_EQ(dns1123_label(a63), "");
  EXPECT_NE(dns1123_label(a63 + "a"), "");
  EXPECT_NE(dns1123_label(""), "");
  EXPECT_NE(dns1123_label("-a"), "");
  EXPECT_NE(dns1123_label("a-"), "");
  EXPECT_EQ(dns1123_label("0a-9"), "");
  EXPECT_EQ(dns1123_subdomain("a.b.c"), "");
  EXPECT_NE(dns1123_subdomain("a..b"), "");
  EXPECT_NE(dns1123_subdomain(".a"), "");
  EXPECT_NE(dns1123_subdomain("a."), "");
  EXPECT_EQ(qualified_name("k8s-app"), "");
  EXPECT_EQ(qualified_name("kubernetes.io/metadata.name"), "");
  EXPECT_NE(qualified_name("a/b/c"), "");
  EXPECT_NE(qualified_name(""), "");
  EXPECT_EQ(label_value(""), "");
  EXPECT_NE(label_value("a "), "");
  EXPECT_EQ(port_name("http"), "");
  EXPECT_EQ(port_name("h2c"), "");
  EXPECT_NE(port_name("123"), "");
}

}  // namespace
}  // namespace policy
