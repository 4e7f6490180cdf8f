// The changes the latency bench times, chosen on the synthetic cluster: each is ONE write to
// the API (and one write undoing it), what the kernel must show for it, and, when the
// cluster allows it, two pods whose connection the change opens or closes (the probe).
//
//   policy   a NetworkPolicy created in a namespace with pods on the node, isolating one of
//            them for ingress (a new chain and a jump: the dearest kind of change); deleted
//   relabel  a pod of the node relabelled (app=...) so that it leaves or joins selectors
//   pod      a pod added on another node that joins peer sets of the node (P3); deleted
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "latency_cluster.h"

namespace bench {

struct ProbePair {
  std::string client, server;  // "ns/name" (the client may be the pod being added)
  common::IpAddr client_ip, server_ip;
};

struct ChangeStep {
  std::string name;     // "policy created"
  std::string request;  // one HTTP request, formatted
  Expectation expect;
  bool allowed_after = false;  // the probe's verdict once applied
};

// The agent's work for the forward change, redone by the bench on the same programs (medians
// of 3): where the agent's time goes, without its log having to say.
struct OfflineCost {
  double compile_ms = 0;  // compile() of the changed cluster
  double diff_ms = 0;     // nft::diff(before, after): the agent's plan_ms
  double scope_ms = 0;    // conntrack::scope_of_change(before, after), after the ACK
};

struct Series {
  std::string kind;  // policy, relabel, pod
  std::string what;  // one line for the report
  ChangeStep forward, back;
  std::optional<ProbePair> probe;
  OfflineCost cost;
};

// `base` is the cluster as seeded; `program` is compile(base, node, options).program.
std::vector<Series> plan_series(const policy::Cluster& base, const nft::Program& program,
                                const std::string& node, const compiler::Options& options);

}  // namespace bench
