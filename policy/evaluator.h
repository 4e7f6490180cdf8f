// The reference evaluator: NetworkPolicy semantics (networking.k8s.io/v1) written to be read.
// The compiled nftables program and the kernel must agree with it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "policy/cluster.h"

namespace policy {

// One end of a flow: a pod of the cluster, or a plain address outside it.
struct Endpoint {
  const Pod* pod = nullptr;
  std::optional<common::IpAddr> ip;  // the address the flow uses (for ipBlock peers)
  std::string str() const;
};

struct Flow {
  Endpoint src;
  Endpoint dst;
  uint16_t port = 0;
  Protocol protocol = Protocol::kTCP;
};

// How one rule of one policy judged the flow.
struct RuleVerdict {
  std::string policy;  // namespace/name
  size_t rule = 0;     // index into spec.ingress or spec.egress
  int peer = -1;       // index of the peer that matched; -1 when none did or the rule has none
  int port = -1;       // likewise for ports
  bool matched = false;
  std::string reason;  // in plain words
};

// One direction: egress of the source, or ingress of the destination.
struct SideVerdict {
  Direction direction = Direction::kIngress;
  bool allowed = true;
  bool isolated = false;
  std::vector<std::string> isolating;  // policies that select the pod for this direction
  std::vector<RuleVerdict> rules;      // every rule of the isolating policies (when explained)
  std::string summary;                 // one sentence
};

struct Verdict {
  bool allowed = true;
  SideVerdict egress;   // the source's egress
  SideVerdict ingress;  // the destination's ingress
};

class Evaluator {
 public:
  explicit Evaluator(const Cluster& cluster);

  // "Allowed traffic = source egress allows AND destination ingress allows."
  Verdict evaluate(const Flow& flow) const;
  // The same decision without building explanations (for matrices).
  bool allowed(const Flow& flow) const;

  // A flow between two pods, choosing addresses of one family: `family` when given, else
  // IPv4 when both pods have one, else IPv6. Pods without addresses get none.
  static Flow pod_flow(const Pod& src, const Pod& dst, uint16_t port, Protocol proto,
                       std::optional<common::Family> family = std::nullopt);
  // Policies (indices into cluster.policies) that isolate `pod` for `d`.
  const std::vector<size_t>& isolating(const Pod& pod, Direction d) const;

  const Cluster& cluster() const { return cluster_; }

 private:
  SideVerdict judge(const Flow& flow, Direction d, bool explain) const;
  bool rule_matches(const NetworkPolicy& np, const Rule& rule, const Flow& flow, Direction d,
                    RuleVerdict* why) const;

  const Cluster& cluster_;
  // Per pod index, the policies that select it: [0] ingress, [1] egress.
  std::vector<std::vector<size_t>> isolating_[2];
};

// Descriptions shared by explanations and lint messages.
std::string describe_peer(const Peer& peer, const std::string& policy_namespace);
std::string describe_port(const PolicyPort& port);
// Whether `peer` (of a policy in `policy_namespace`) matches the endpoint; when not, `why`
// (if given) says why.
bool peer_matches(const Cluster& cluster, const Peer& peer, const std::string& policy_namespace,
                  const Endpoint& ep, std::string* why);
// Whether `port` admits the flow's port/protocol to `dst` (named ports resolve on dst).
bool port_matches(const PolicyPort& port, const Flow& flow, const Endpoint& dst, std::string* why);

}  // namespace policy
