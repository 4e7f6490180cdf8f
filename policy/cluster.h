// The state nftpolicy reasons about: namespaces, pods and network policies, in a
// deterministic order (pods and policies sorted by namespace/name).
#pragma once

#include <map>
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

  const Pod* find_pod(std::string_view key) const;  // "namespace/name"
  const Pod* find_pod_by_ip(const common::IpAddr& ip) const;
  const NetworkPolicy* find_policy(std::string_view key) const;
  // Labels of a namespace; empty when the namespace is unknown.
  const Labels& namespace_labels(const std::string& name) const;
};

}  // namespace policy
