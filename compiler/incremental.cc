#include "compiler/incremental.h"

#include <algorithm>

#include "compiler/interpreter.h"

namespace compiler {
namespace {

using common::Family;
using common::IpAddr;
using policy::Pod;

nft::Element element_of(const IpAddr& ip) {
  return nft::Element{.key = nft::Bytes(ip.bytes.begin(), ip.bytes.begin() + ip.size())};
}

bool has_named_port(const Pod& pod) {
  return std::any_of(pod.ports.begin(), pod.ports.end(),
                     [](const policy::ContainerPort& p) { return !p.name.empty(); });
}

// A change this function cannot turn into element operations.
bool needs_compile(const PodChange& c, const Recipes& recipes, const std::string& node) {
  for (const auto* v : {&c.before, &c.after}) {
    if (!*v) continue;
    if ((*v)->node == node) return true;
    if (recipes.named_egress_ports && has_named_port(**v)) return true;
  }
  return false;
}

std::set<Family> families_of(const policy::Cluster& cluster) {
  std::set<Family> out;
  for (const auto& p : cluster.pods) {
    for (const auto& ip : p.ips) out.insert(ip.family);
    if (out.size() == 2) break;
  }
  return out;
}

// The addresses of family `f` that `version` contributes to the set, if it is a member.
void member_ips(const std::optional<Pod>& version, const PeerSetRecipe& r,
                const policy::Cluster& cluster, std::set<IpAddr>& out) {
  if (!version || !peer_set_member(r, *version, cluster)) return;
  for (const auto& ip : version->ips) {
    if (ip.family == r.family) out.insert(ip);
  }
}

}  // namespace

bool peer_set_member(const PeerSetRecipe& r, const Pod& pod, const policy::Cluster& cluster) {
  if (!pod.selectable()) return false;  // hostNetwork or finished: never a selector peer
  if (r.peer.namespace_selector) {
    const auto ns = cluster.namespaces.find(pod.namespace_);
    if (ns == cluster.namespaces.end() || !r.peer.namespace_selector->matches(ns->second.labels)) {
      return false;
    }
  } else if (pod.namespace_ != r.policy_namespace) {
    return false;
  }
  return !r.peer.pod_selector || r.peer.pod_selector->matches(pod.labels);
}

std::optional<nft::Transaction> update_peer_sets(const nft::Program& program,
                                                 const Recipes& recipes,
                                                 const policy::Cluster& cluster,
                                                 const std::vector<PodChange>& changes,
                                                 const std::string& node) {
  for (const auto& c : changes) {
    if (needs_compile(c, recipes, node)) return std::nullopt;
  }
  if (families_of(cluster) != recipes.families) return std::nullopt;
  nft::Transaction tx;
  tx.table = program.table;
  for (const auto& [name, recipe] : recipes.peer_sets) {
    const nft::Set* set = program.find_set(name);
    if (!set) return std::nullopt;  // not the program the recipes came with
    // Effective IPs are unique among selectable pods (Cluster::resolve_ip_conflicts), and a
    // pod whose IPs moved to another pod is itself a change: an address is in the set after
    // the change iff a changed pod's new version puts it there.
    std::set<IpAddr> was, now;
    for (const auto& c : changes) {
      member_ips(c.before, recipe, cluster, was);
      member_ips(c.after, recipe, cluster, now);
    }
    nft::op::AddElements add{.set = name, .type = set->type};
    nft::op::DeleteElements del{.set = name, .type = set->type};
    for (const auto& ip : was) {
      if (!now.count(ip) && lookup(*set, element_of(ip).key))
        del.elements.push_back(element_of(ip));
    }
    for (const auto& ip : now) {
      if (!lookup(*set, element_of(ip).key)) add.elements.push_back(element_of(ip));
    }
    if (!del.elements.empty()) tx.ops.emplace_back(std::move(del));
    if (!add.elements.empty()) tx.ops.emplace_back(std::move(add));
  }
  return tx;
}

}  // namespace compiler
