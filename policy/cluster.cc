#include "policy/cluster.h"

#include <algorithm>

#include "policy/parse.h"

namespace policy {

void Cluster::finalize() {
  std::sort(pods.begin(), pods.end(), [](const Pod& a, const Pod& b) {
    return std::tie(a.namespace_, a.name) < std::tie(b.namespace_, b.name);
  });
  std::sort(policies.begin(), policies.end(), [](const NetworkPolicy& a, const NetworkPolicy& b) {
    return std::tie(a.namespace_, a.name) < std::tie(b.namespace_, b.name);
  });
  auto imply = [&](const std::string& ns) {
    if (namespaces.count(ns)) return;
    namespaces[ns] =
        Namespace{.name = ns, .labels = {{kNamespaceNameLabel, ns}}, .declared = false};
  };
  for (const auto& p : pods) imply(p.namespace_);
  for (const auto& np : policies) imply(np.namespace_);
}

const Pod* Cluster::find_pod(std::string_view key) const {
  auto it = std::find_if(pods.begin(), pods.end(), [&](const Pod& p) { return p.key() == key; });
  return it == pods.end() ? nullptr : &*it;
}

const Pod* Cluster::find_pod_by_ip(const common::IpAddr& ip) const {
  // Prefer a live pod: a finished pod's IP may already belong to another one.
  const Pod* fallback = nullptr;
  for (const auto& p : pods) {
    if (std::find(p.ips.begin(), p.ips.end(), ip) == p.ips.end()) continue;
    if (p.selectable()) return &p;
    if (!fallback) fallback = &p;
  }
  return fallback;
}

const NetworkPolicy* Cluster::find_policy(std::string_view key) const {
  auto it = std::find_if(policies.begin(), policies.end(),
                         [&](const NetworkPolicy& p) { return p.key() == key; });
  return it == policies.end() ? nullptr : &*it;
}

const Labels& Cluster::namespace_labels(const std::string& name) const {
  static const Labels kNone;
  auto it = namespaces.find(name);
  return it == namespaces.end() ? kNone : it->second.labels;
}

}  // namespace policy
