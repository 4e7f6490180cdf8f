// The state nftpolicy reasons about: namespaces, pods and network policies, in a
// deterministic order (pods and policies sorted by namespace/name).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/types.h"

namespace policy {

struct Cluster {
  std::map<std::string, Namespace> namespaces;
  std::vector<Pod> pods;
  std::vector<NetworkPolicy> policies;

  // Sorts pods and policies and adds the namespaces that pods or policies live in but the
  // input did not declare (labelled only with kubernetes.io/metadata.name, as the API server
  // would). Call after building by hand; the loader calls it.
  void finalize();
  // An IP claimed by two pods (the kubelet reuses an IP as soon as a pod's sandbox is gone,
  // while the old pod object may still be terminating, or Failed/Succeeded) belongs to one of
  // them only (prefers_ip_owner); the others lose it here, so the new pod never inherits
  // the old pod's rules or peer-set memberships. hostNetwork pods share the node's IPs
  // legitimately and take no part. finalize() calls it.
  void resolve_ip_conflicts();

  const Pod* find_pod(std::string_view key) const;  // "namespace/name"
  const Pod* find_pod_by_ip(const common::IpAddr& ip) const;
  const NetworkPolicy* find_policy(std::string_view key) const;
  // Labels of a namespace; empty when the namespace is unknown.
  const Labels& namespace_labels(const std::string& name) const;
};

// A pod as it was (absent: it did not exist) and as it is (absent: deleted), for incremental
// consumers of a changing cluster (compiler/incremental.h).
struct PodChange {
  std::optional<Pod> before;
  std::optional<Pod> after;
};

// Which of two pods claiming the same IP owns it: a live pod before a finished one, a pod
// that is not being deleted before one that is, then the newer one (creationTimestamp), then
// the smaller namespace/name (only so that the choice is deterministic).
bool prefers_ip_owner(const Pod& a, const Pod& b);

}  // namespace policy
