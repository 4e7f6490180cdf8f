// The Kubernetes objects nftpolicy reasons about, reduced to what enforcement needs.
// Field names follow the API (core/v1 Pod and Namespace, networking.k8s.io/v1 NetworkPolicy).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/ip.h"

namespace policy {

using Labels = std::map<std::string, std::string>;

enum class Protocol : uint8_t { kTCP = 6, kUDP = 17, kSCTP = 132 };
const char* to_string(Protocol p);
std::optional<Protocol> parse_protocol(std::string_view s);

// metav1.LabelSelector. "A null label selector matches no objects"; an empty one
// (`{}`) matches all objects.
struct LabelSelector {
  enum class Op : uint8_t { kIn, kNotIn, kExists, kDoesNotExist };
  struct Requirement {
    std::string key;
    Op op = Op::kIn;
    std::vector<std::string> values;
    bool operator==(const Requirement&) const = default;
  };
  std::map<std::string, std::string> match_labels;
  std::vector<Requirement> match_expressions;

  bool empty() const { return match_labels.empty() && match_expressions.empty(); }
  bool matches(const Labels& labels) const;
  // "app=web, tier in (a, b)" or "(all)" — kubectl's selector syntax.
  std::string str() const;
  bool operator==(const LabelSelector&) const = default;
};

struct Namespace {
  std::string name;
  Labels labels;         // defaulted: always carries kubernetes.io/metadata.name=<name>
  bool declared = true;  // false when implied by a pod or policy but not in the input
  bool operator==(const Namespace&) const = default;
};

struct ContainerPort {
  std::string name;  // may be empty
  uint16_t port = 0;
  Protocol protocol = Protocol::kTCP;
  bool operator==(const ContainerPort&) const = default;
};

struct Pod {
  std::string namespace_;
  std::string name;
  Labels labels;
  std::string node;  // spec.nodeName, empty when not scheduled
  bool host_network = false;
  std::string phase;         // status.phase: Pending, Running, Succeeded, Failed, Unknown or empty
  bool terminating = false;  // metadata.deletionTimestamp is set
  // metadata.creationTimestamp in seconds since the epoch (0: unknown). Decides which pod
  // owns an IP that two pods claim (see Cluster::resolve_ip_conflicts).
  std::int64_t created = 0;
  std::vector<common::IpAddr> ips;   // status.podIPs (or podIP), IPv4 and IPv6
  std::vector<ContainerPort> ports;  // containers and restartable init containers

  std::string key() const { return namespace_ + "/" + name; }
  // Finished pods hold no IP any more: Kubernetes may reuse it at once.
  bool finished() const { return phase == "Succeeded" || phase == "Failed"; }
  // A pod that can be the peer of a selector: not hostNetwork (its IP is the node's).
  bool selectable() const { return !host_network && !finished(); }
  bool operator==(const Pod&) const = default;
};

// NetworkPolicyPort. `port` absent = all ports of the protocol.
struct PolicyPort {
  Protocol protocol = Protocol::kTCP;  // defaulted to TCP
  std::optional<std::variant<int32_t, std::string>> port;
  std::optional<int32_t> end_port;
  bool operator==(const PolicyPort&) const = default;
};

struct IpBlock {
  common::Cidr cidr;
  std::vector<common::Cidr> except;
  std::string cidr_text;  // as written, for messages
  bool contains(const common::IpAddr& ip) const;
  bool operator==(const IpBlock&) const = default;
};

// NetworkPolicyPeer: podSelector and namespaceSelector may be combined (AND); ipBlock
// stands alone (validation forbids mixing).
struct Peer {
  std::optional<LabelSelector> pod_selector;
  std::optional<LabelSelector> namespace_selector;
  std::optional<IpBlock> ip_block;
  bool operator==(const Peer&) const = default;
};

// An ingress or egress rule: absent/empty `peers` = every source/destination, absent/empty
// `ports` = every port.
struct Rule {
  std::vector<Peer> peers;
  std::vector<PolicyPort> ports;
  bool operator==(const Rule&) const = default;
};

enum class Direction : uint8_t { kIngress, kEgress };
const char* to_string(Direction d);

struct NetworkPolicy {
  std::string namespace_;
  std::string name;
  LabelSelector pod_selector;
  std::vector<Rule> ingress;
  std::vector<Rule> egress;
  bool ingress_type = true;  // effective policyTypes after defaulting
  bool egress_type = false;
  bool policy_types_explicit = false;  // spec.policyTypes was given

  std::string key() const { return namespace_ + "/" + name; }
  bool affects(Direction d) const { return d == Direction::kIngress ? ingress_type : egress_type; }
  const std::vector<Rule>& rules(Direction d) const {
    return d == Direction::kIngress ? ingress : egress;
  }
  bool operator==(const NetworkPolicy&) const = default;
};

}  // namespace policy
