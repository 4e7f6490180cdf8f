#include "policy/cluster.h"

#include <algorithm>
#include <tuple>

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
  resolve_ip_conflicts();
}

bool prefers_ip_owner(const Pod& a, const Pod& b) {
  auto rank = [](const Pod& p) {
    return std::make_tuple(!p.finished(), !p.terminating, p.created);
  };
  if (rank(a) != rank(b)) return rank(a) > rank(b);
  return std::tie(a.namespace_, a.name) < std::tie(b.namespace_, b.name);
}

void Cluster::resolve_ip_conflicts() {
  std::map<common::IpAddr, const Pod*> owner;
  for (const auto& p : pods) {
    if (p.host_network) continue;
    for (const auto& ip : p.ips) {
      auto [it, fresh] = owner.emplace(ip, &p);
      if (!fresh && prefers_ip_owner(p, *it->second)) it->second = &p;
    }
  }
  for (auto& p : pods) {
    if (p.host_network) continue;
    std::erase_if(p.ips, [&](const common::IpAddr& ip) { return owner.at(ip) != &p; });
  }
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
