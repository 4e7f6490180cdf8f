#include "demo_steps.h"

namespace demo {

const char* const kIntro =
    "A NetworkPolicy says which connections the pods it selects may accept and make. Kubernetes "
    "stores policies but does not enforce them; a node agent has to. nftpolicy's agent watches "
    "the API server and turns the policies into nftables rules on its node. This demo builds a "
    "two-node cluster out of Linux network namespaces (every pod its own namespace, wired by "
    "the real CNI bridge plugin), runs an API server stand-in and one nftpolicy-agent per node, "
    "and applies examples/policies/ with kubectl one file at a time. For each step, "
    "policy-dry-run first predicts from a snapshot of the API server which connections are "
    "allowed; then real connections between the pods show what the kernel does. They must "
    "agree.";

const char* const kLegend =
    "How to read the matrices: rows are where a connection starts, columns where it goes; `.` "
    "it connects, `X` it is denied, `-` the pod itself. Columns are the pods that serve the "
    "port (a port nobody listens on tells nothing); ext.10 and ext.200 are 203.0.113.10 and "
    "203.0.113.200 outside the cluster.";

const std::vector<Step>& policy_steps() {
  static const std::vector<Step> steps = {
      {.title = "No NetworkPolicy: everything is open",
       .text = "Without NetworkPolicies Kubernetes lets every pod connect to every other pod, "
               "on any port, and to the outside world. The CNI bridge plugin only wires the "
               "pods; it filters nothing. The agents run on both nodes but have nothing to "
               "enforce yet.",
       .shown = {"8080/TCP", "53/UDP", "443/TCP external"}},
      {.title = "Default deny for payments",
       .file = "10-default-deny.yaml",
       .text = "A NetworkPolicy selects pods of its own namespace (`podSelector: {}` selects all "
               "of them) and lists what they may do. A selected pod becomes isolated for the "
               "directions in policyTypes: from then on, only what some policy allows gets "
               "through. This policy allows nothing, so the payments pods can neither be "
               "reached nor reach anything, not even DNS or the card processor. Pods of other "
               "namespaces stay open to each other: no policy selects them.",
       .shown = {"8080/TCP", "53/UDP", "443/TCP external"}},
      {.title = "Let payments resolve names",
       .file = "20-allow-dns.yaml",
       .text = "Policies add up: a pod may do whatever any policy that selects it allows. This "
               "one lets every payments pod send DNS queries to CoreDNS, over UDP and TCP. Its "
               "peer has a namespaceSelector and a podSelector in the same entry, which means "
               "both at once: pods labelled k8s-app=kube-dns in the namespace kube-system "
               "(Kubernetes labels every namespace with kubernetes.io/metadata.name). Answers "
               "need no rule: an allowed connection may always reply.",
       .shown = {"53/UDP", "53/TCP"}},
      {.title = "The shop may call the payments API",
       .file = "30-api-from-shop.yaml",
       .text = "Ingress to the API from every pod of the namespace shop, on the port named "
               "`http`: a named port is looked up in the destination pod's container ports, "
               "8080 here. A connection needs both ends to allow it, the source's egress and "
               "the destination's ingress; the shop pods are not isolated for egress, so this "
               "one policy is enough. The ledger stays closed: only app=payments-api is "
               "selected.",
       .shown = {"8080/TCP"},
       .explained = {{"shop/web-7c9d8-abcde", "payments/api-0", "http"}}},
      {.title = "The API's way out: the ledger and the card processor",
       .file = "40-api-egress.yaml",
       .text = "Two policies in one file. api-egress lets the API call the ledger on http, and "
               "the card processor's network 203.0.113.0/24 on TCP 443 except "
               "203.0.113.128/25, the processor's test range: an ipBlock matches addresses, not "
               "pods. ledger-from-api lets the ledger accept the API and nobody else. The card "
               "processor is a network namespace behind node-1 with two addresses: "
               "203.0.113.10 (ext.10, in the allowed range) and 203.0.113.200 (ext.200, in the "
               "except range).",
       .shown = {"8080/TCP", "443/TCP external"},
       .explained = {{"payments/api-0", "203.0.113.200", "443"}}},
      {.title = "Prometheus may scrape payments: a named port",
       .file = "50-allow-metrics.yaml",
       .text = "Prometheus, in the namespace monitoring, may reach every payments pod on the "
               "port named `metrics`. One rule, two port numbers: `metrics` is 9090 on the API "
               "and 9091 on the ledger, and each destination pod resolves the name for itself. "
               "The API's egress rules play no part: it only answers, and answers of allowed "
               "connections always pass.",
       .shown = {"9090/TCP", "9091/TCP"},
       .explained = {{"monitoring/prometheus-0", "payments/ledger-0", "metrics"}}},
  };
  return steps;
}

const CutStep& cut_step() {
  static const CutStep step = {
      .title = "An established connection is cut",
      .text =
          "Firewalls let the packets of an established connection through without judging "
          "each one again (nftables: `ct state established accept`; that is what lets answers "
          "back in). So a policy change alone would only stop new connections, and one opened "
          "before would carry on. NetworkPolicy means the policies as they are now, so the "
          "agent deletes the connection-tracking entries of the connections its new rules "
          "deny: their next packet is judged afresh, and dropped. Two connections to the "
          "payments API, both allowed by api-from-shop, each send a line every 200 ms and "
          "get it back:",
      .server = "payments/api-0",
      .port = 8080,
      .cut_from = "shop/web-7c9d8-fghij",
      .kept_from = "shop/cart-6b5f4-klmno",
      .change_text =
          "Now the shop's storefront must no longer call payments directly: "
          "api-from-shop is narrowed to the shop's backend (tier=backend, the cart).",
      .policy_yaml = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-from-shop
  namespace: payments
spec:
  podSelector:
    matchLabels:
      app: payments-api
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: shop
          podSelector:          # new: and only the shop's backend
            matchLabels:
              tier: backend
      ports:
        - port: http
)",
      .shown = {"8080/TCP"},
  };
  return step;
}

}  // namespace demo
