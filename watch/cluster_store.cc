#include "watch/cluster_store.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "policy/parse.h"

namespace watch {
namespace {

using json = nlohmann::json;
using policy::Pod;

// Past this many changed pods between two syncs, a full compile is cheaper than tracking.
constexpr std::size_t kMaxPodChanges = 2000;

std::size_t slot(Resource r) {
  return static_cast<std::size_t>(r);
}

// namespace/name of an object, for DELETED events whose object may be partial.
bool object_key(const json& obj, std::string& ns, std::string& name) {
  const auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return false;
  const auto n = meta->find("name");
  if (n == meta->end() || !n->is_string()) return false;
  name = n->get<std::string>();
  const auto s = meta->find("namespace");
  ns = s != meta->end() && s->is_string() ? s->get<std::string>() : "";
  return true;
}

template <class T>
bool key_less(const T& a, const T& b) {
  return std::tie(a.namespace_, a.name) < std::tie(b.namespace_, b.name);
}

// The position of namespace/name in a vector sorted by key.
template <class V>
auto locate(V& v, std::string_view ns, std::string_view name) {
  using Key = std::pair<std::string_view, std::string_view>;
  return std::lower_bound(v.begin(), v.end(), Key(ns, name), [](const auto& x, const Key& k) {
    return Key(x.namespace_, x.name) < k;
  });
}

template <class V, class It>
bool at(const V& v, It it, std::string_view ns, std::string_view name) {
  return it != v.end() && it->namespace_ == ns && it->name == name;
}

std::pair<std::string_view, std::string_view> split_key(const std::string& key) {
  const auto slash = key.find('/');
  return {std::string_view(key).substr(0, slash), std::string_view(key).substr(slash + 1)};
}

const char* kind_prefix(Resource r) {
  return r == Resource::pods ? "Pod " : r == Resource::namespaces ? "Namespace " : "NetworkPolicy ";
}

// How an object is named in reports ("Pod x/a", "Namespace x"), namespace defaulted as the
// parser defaults it.
std::string report_key(Resource r, const std::string& ns, const std::string& name) {
  if (r == Resource::namespaces) return kind_prefix(r) + name;
  return kind_prefix(r) + (ns.empty() ? std::string(policy::kDefaultNamespace) : ns) + "/" + name;
}

std::string join(const policy::FieldErrors& errors) {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "; ") + e.str();
  return out;
}

}  // namespace

std::size_t IpHash::operator()(const common::IpAddr& ip) const noexcept {
  std::size_t h = static_cast<std::size_t>(ip.family);
  for (auto b : ip.bytes) h = h * 131 + b;
  return h;
}

struct ClusterStore::Staging {
  std::vector<policy::Pod> pods;
  std::vector<policy::NetworkPolicy> policies;
  std::vector<policy::Namespace> namespaces;
  std::set<std::string> invalid;  // keys listed but invalid: their last good version stays
};

ClusterStore::ClusterStore(std::shared_ptr<spdlog::logger> log)
    : log_(log ? std::move(log) : spdlog::default_logger()) {}

ClusterStore::~ClusterStore() = default;

void ClusterStore::changed() {
  ++generation_;
  cv_.notify_all();
}

// ---- EventSink ----------------------------------------------------------------------------

void ClusterStore::begin_list(Resource r) {
  staging_[slot(r)] = std::make_unique<Staging>();
}

void ClusterStore::listed(Resource r, const json& object) {
  auto& s = *staging_[slot(r)];
  policy::FieldErrors errors;
  std::string ns, name;
  object_key(object, ns, name);
  switch (r) {
    case Resource::pods:
      if (auto p = policy::parse_pod(object, errors)) s.pods.push_back(std::move(*p));
      break;
    case Resource::networkpolicies:
      if (auto p = policy::parse_network_policy(object, errors))
        s.policies.push_back(std::move(*p));
      break;
    case Resource::namespaces:
      if (auto n = policy::parse_namespace(object, errors)) s.namespaces.push_back(std::move(*n));
      break;
  }
  if (errors.empty()) return;
  const std::string key = report_key(r, ns, name);
  s.invalid.insert(key);
  std::lock_guard lock(mu_);
  report_invalid(key, errors);
}

void ClusterStore::end_list(Resource r, bool complete, const std::string& rv) {
  auto staged = std::move(staging_[slot(r)]);
  if (!complete || !staged) return;
  std::lock_guard lock(mu_);
  rv_[slot(r)] = rv;  // with the list itself: a reader sees both or neither
  counters_.events += staged->pods.size() + staged->policies.size() + staged->namespaces.size();
  switch (r) {
    case Resource::pods:
      replace_pods(std::move(staged->pods), staged->invalid);
      break;
    case Resource::networkpolicies:
      replace_policies(std::move(staged->policies), staged->invalid);
      break;
    case Resource::namespaces:
      replace_namespaces(std::move(staged->namespaces), staged->invalid);
      break;
  }
  // Objects that disappeared, or came back valid, are no longer reported as invalid.
  const char* prefix = kind_prefix(r);
  std::erase_if(invalid_, [&](const auto& kv) {
    return kv.first.rfind(prefix, 0) == 0 && !staged->invalid.count(kv.first);
  });
  if (!synced_[slot(r)]) {
    synced_[slot(r)] = true;
    changed();  // the first list may be empty, and still complete the picture
  }
}

void ClusterStore::event(Resource r, EventType type, const json& object) {
  std::lock_guard lock(mu_);
  ++counters_.events;
  const auto before = generation_;
  std::string ns, name;
  if (type == EventType::remove) {
    if (!object_key(object, ns, name)) return;
    if (r == Resource::pods) remove_pod(ns.empty() ? policy::kDefaultNamespace : ns, name);
    if (r == Resource::networkpolicies) {
      remove_policy(ns.empty() ? policy::kDefaultNamespace : ns, name);
    }
    if (r == Resource::namespaces) remove_namespace(name);
  } else {
    object_key(object, ns, name);
    policy::FieldErrors errors;
    const std::string key = report_key(r, ns, name);
    if (r == Resource::pods) {
      if (auto p = policy::parse_pod(object, errors)) upsert_pod(std::move(*p));
    } else if (r == Resource::networkpolicies) {
      if (auto p = policy::parse_network_policy(object, errors)) upsert_policy(std::move(*p));
    } else if (auto n = policy::parse_namespace(object, errors)) {
      upsert_namespace(std::move(*n));
    }
    if (name.empty() && !errors.empty()) {
      // Nothing names it: it cannot be kept apart from others, nor ever deleted; report it and
      // keep nothing (it would be counted as invalid for ever).
      ++counters_.malformed;
      log_->warn("malformed {} event ignored: {}", to_string(r), join(errors));
    } else if (!report_invalid(key, errors)) {
      clear_invalid(key);
    }
  }
  if (generation_ == before) ++counters_.unchanged;
}

void ClusterStore::progress(Resource r, const std::string& rv) {
  std::lock_guard lock(mu_);
  rv_[slot(r)] = rv;
}

bool ClusterStore::report_invalid(const std::string& key, const policy::FieldErrors& errors) {
  if (errors.empty()) return false;
  const std::string text = join(errors);
  auto [it, fresh] = invalid_.emplace(key, text);
  if (fresh || it->second != text) {
    it->second = text;
    log_->warn("invalid object {} left out (its last good version, if any, stays enforced): {}",
               key, text);
  }
  return true;
}

void ClusterStore::clear_invalid(const std::string& key) {
  invalid_.erase(key);
}

// ---- readers ------------------------------------------------------------------------------

bool ClusterStore::synced() const {
  std::lock_guard lock(mu_);
  return std::all_of(synced_.begin(), synced_.end(), [](bool b) { return b; });
}

std::uint64_t ClusterStore::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

std::uint64_t ClusterStore::wait_change(std::uint64_t seen,
                                        std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, deadline, [&] { return stopped_ || woken_ || generation_ != seen; });
  woken_ = false;
  return generation_;
}

void ClusterStore::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void ClusterStore::stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

ClusterStore::View ClusterStore::version() const {
  std::lock_guard lock(mu_);
  return View{.generation = generation_, .resource_versions = rv_};
}

void ClusterStore::read(const std::function<void(const policy::Cluster&, const View&)>& reader,
                        bool take_changes) {
  std::lock_guard lock(mu_);
  View view{.generation = generation_, .resource_versions = rv_};
  if (take_changes) {
    view.structural = structural_;
    if (!structural_) {
      for (auto& [key, before] : pod_changes_) {
        std::optional<Pod> after;
        if (const Pod* p = find_pod(key)) after = *p;
        if (before != after) view.pods.push_back({std::move(before), std::move(after)});
      }
    }
    pod_changes_.clear();
    structural_ = false;
  }
  reader(cluster_, view);
}

// Keeps the version of pod `key` from before its first change since the last read that took
// changes. Past a bound, "everything changed" is cheaper to hand over.
void ClusterStore::record(const std::string& key) {
  if (structural_ || pod_changes_.count(key)) return;
  if (pod_changes_.size() >= kMaxPodChanges) {
    structural_ = true;
    pod_changes_.clear();
    return;
  }
  const Pod* p = find_pod(key);
  pod_changes_.emplace(key, p ? std::optional<Pod>(*p) : std::nullopt);
}

std::vector<common::IpAddr> ClusterStore::take_released_ips(const std::string& node) {
  std::lock_guard lock(mu_);
  std::vector<common::IpAddr> out;
  for (const auto& [ip, owner_node] : released_) {
    if (node.empty() || owner_node == node) out.push_back(ip);
  }
  released_.clear();
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> ClusterStore::invalid_objects() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [key, text] : invalid_) out.push_back(key + ": " + text);
  return out;
}

StoreStats ClusterStore::stats() const {
  std::lock_guard lock(mu_);
  StoreStats s = counters_;
  s.namespaces = cluster_.namespaces.size();
  s.pods = cluster_.pods.size();
  s.policies = cluster_.policies.size();
  s.invalid = invalid_.size();
  s.generation = generation_;
  return s;
}

// ---- policies and namespaces --------------------------------------------------------------

void ClusterStore::upsert_policy(policy::NetworkPolicy np) {
  auto& v = cluster_.policies;
  auto it = locate(v, np.namespace_, np.name);
  if (at(v, it, np.namespace_, np.name)) {
    if (*it == np) return;
    *it = std::move(np);
  } else {
    imply_namespace(np.namespace_);
    v.insert(it, std::move(np));
  }
  structural_ = true;
  changed();
}

void ClusterStore::remove_policy(const std::string& ns, const std::string& name) {
  auto& v = cluster_.policies;
  auto it = locate(v, ns, name);
  clear_invalid("NetworkPolicy " + ns + "/" + name);
  if (!at(v, it, ns, name)) return;
  v.erase(it);
  structural_ = true;
  changed();
}

void ClusterStore::imply_namespace(const std::string& name) {
  if (cluster_.namespaces.count(name)) return;
  structural_ = true;
  cluster_.namespaces[name] = policy::Namespace{
      .name = name, .labels = {{policy::kNamespaceNameLabel, name}}, .declared = false};
}

void ClusterStore::upsert_namespace(policy::Namespace ns) {
  auto it = cluster_.namespaces.find(ns.name);
  if (it != cluster_.namespaces.end() && it->second == ns) return;
  cluster_.namespaces[ns.name] = std::move(ns);
  structural_ = true;
  changed();
}

void ClusterStore::remove_namespace(const std::string& name) {
  clear_invalid("Namespace " + name);
  auto it = cluster_.namespaces.find(name);
  if (it == cluster_.namespaces.end() || !it->second.declared) return;
  cluster_.namespaces.erase(it);
  // Its pods and policies are deleted by the namespace controller, each with its own event;
  // until then they keep an implied namespace.
  const bool in_use =
      std::any_of(cluster_.pods.begin(), cluster_.pods.end(),
                  [&](const Pod& p) { return p.namespace_ == name; }) ||
      std::any_of(cluster_.policies.begin(), cluster_.policies.end(),
                  [&](const policy::NetworkPolicy& p) { return p.namespace_ == name; });
  if (in_use) imply_namespace(name);
  structural_ = true;
  changed();
}

void ClusterStore::replace_policies(std::vector<policy::NetworkPolicy> policies,
                                    const std::set<std::string>& invalid) {
  std::sort(policies.begin(), policies.end(), key_less<policy::NetworkPolicy>);
  // Listed but invalid: keep the last good version.
  for (const auto& old : cluster_.policies) {
    if (invalid.count("NetworkPolicy " + old.key()) &&
        !std::binary_search(policies.begin(), policies.end(), old,
                            key_less<policy::NetworkPolicy>)) {
      policies.insert(
          std::lower_bound(policies.begin(), policies.end(), old, key_less<policy::NetworkPolicy>),
          old);
    }
  }
  if (policies == cluster_.policies) return;
  structural_ = true;
  cluster_.policies = std::move(policies);
  for (const auto& np : cluster_.policies) imply_namespace(np.namespace_);
  changed();
}

void ClusterStore::replace_namespaces(std::vector<policy::Namespace> namespaces,
                                      const std::set<std::string>& invalid) {
  std::map<std::string, policy::Namespace> next;
  for (auto& ns : namespaces) next[ns.name] = std::move(ns);
  for (const auto& [name, ns] : cluster_.namespaces) {
    if (invalid.count("Namespace " + name) && !next.count(name)) next[name] = ns;
  }
  for (const auto& p : cluster_.pods) {
    if (!next.count(p.namespace_)) {
      next[p.namespace_] =
          policy::Namespace{.name = p.namespace_,
                            .labels = {{policy::kNamespaceNameLabel, p.namespace_}},
                            .declared = false};
    }
  }
  if (next == cluster_.namespaces) return;
  structural_ = true;
  cluster_.namespaces = std::move(next);
  for (const auto& np : cluster_.policies) imply_namespace(np.namespace_);
  changed();
}

// ---- pods and IP ownership ---------------------------------------------------------------

policy::Pod* ClusterStore::find_pod(const std::string& key) {
  const auto [ns, name] = split_key(key);
  auto it = locate(cluster_.pods, ns, name);
  return at(cluster_.pods, it, ns, name) ? &*it : nullptr;
}

const policy::Pod* ClusterStore::find_pod(const std::string& key) const {
  const auto [ns, name] = split_key(key);
  auto it = locate(cluster_.pods, ns, name);
  return at(cluster_.pods, it, ns, name) ? &*it : nullptr;
}

const std::vector<common::IpAddr>& ClusterStore::claimed(const Pod& pod) const {
  const auto it = shadowed_.find(pod.key());
  return it == shadowed_.end() ? pod.ips : it->second;
}

const Pod* ClusterStore::owner_of(const common::IpAddr& ip) const {
  const auto it = claimants_.find(ip);
  if (it == claimants_.end()) return nullptr;
  const Pod* best = nullptr;
  for (const auto& key : it->second) {
    const Pod* p = find_pod(key);
    if (p && (!best || policy::prefers_ip_owner(*p, *best))) best = p;
  }
  return best;
}

ClusterStore::OwnerMap ClusterStore::live_owners(const std::vector<common::IpAddr>& ips) const {
  OwnerMap m;
  for (const auto& ip : ips) {
    if (const Pod* p = owner_of(ip); p && !p->finished()) m[ip] = Owner{p->key(), p->node};
  }
  return m;
}

ClusterStore::OwnerMap ClusterStore::all_live_owners() const {
  OwnerMap m;
  for (const auto& [ip, keys] : claimants_) {
    if (const Pod* p = owner_of(ip); p && !p->finished()) m[ip] = Owner{p->key(), p->node};
  }
  return m;
}

void ClusterStore::release_changed(const OwnerMap& before, const OwnerMap& after) {
  for (const auto& [ip, owner] : before) {
    const auto it = after.find(ip);
    if (it == after.end() || it->second.key != owner.key) released_.emplace_back(ip, owner.node);
  }
}

void ClusterStore::add_claims(const Pod& pod) {
  if (pod.host_network) return;  // the node's addresses, shared by design
  for (const auto& ip : pod.ips) claimants_[ip].push_back(pod.key());
}

void ClusterStore::drop_claims(const std::string& key, const std::vector<common::IpAddr>& ips) {
  for (const auto& ip : ips) {
    auto it = claimants_.find(ip);
    if (it == claimants_.end()) continue;
    std::erase(it->second, key);
    if (it->second.empty()) claimants_.erase(it);
  }
}

// Gives each of `ips` to its owner only: every claimant's effective ips are its claimed ips
// that it owns.
void ClusterStore::reassign(const std::vector<common::IpAddr>& ips) {
  for (const auto& ip : ips) {
    const auto it = claimants_.find(ip);
    if (it == claimants_.end()) continue;
    const auto keys = it->second;  // copy: the loop does not change claims, only ips
    for (const auto& key : keys) {
      Pod* pod = find_pod(key);
      if (!pod) continue;
      std::vector<common::IpAddr> all = claimed(*pod);
      std::vector<common::IpAddr> owned;
      for (const auto& x : all) {
        if (owner_of(x) == pod) owned.push_back(x);
      }
      if (owned == pod->ips) continue;
      record(key);
      if (owned == all) {
        shadowed_.erase(key);
      } else {
        shadowed_[key] = all;
      }
      pod->ips = std::move(owned);
    }
  }
}

void ClusterStore::rebuild_owners() {
  claimants_.clear();
  shadowed_.clear();
  for (const auto& p : cluster_.pods) add_claims(p);
  std::vector<common::IpAddr> contested;
  for (const auto& [ip, keys] : claimants_) {
    if (keys.size() > 1) contested.push_back(ip);
  }
  reassign(contested);
}

void ClusterStore::upsert_pod(Pod pod) {
  auto& v = cluster_.pods;
  auto it = locate(v, pod.namespace_, pod.name);
  const std::string key = pod.key();
  std::vector<common::IpAddr> affected = pod.ips;
  if (at(v, it, pod.namespace_, pod.name)) {
    // Unchanged as the API server sees it (claimed IPs, not the effective ones)?
    std::vector<common::IpAddr> old_claims = claimed(*it);
    std::swap(it->ips, old_claims);
    const bool same = *it == pod;
    std::swap(it->ips, old_claims);
    if (same) return;
    record(key);
    affected.insert(affected.end(), old_claims.begin(), old_claims.end());
    const auto before = live_owners(affected);
    drop_claims(key, old_claims);
    shadowed_.erase(key);
    *it = std::move(pod);
    add_claims(*it);
    reassign(affected);
    release_changed(before, live_owners(affected));
  } else {
    record(key);
    const auto before = live_owners(affected);
    imply_namespace(pod.namespace_);
    it = locate(v, pod.namespace_, pod.name);  // imply_namespace does not move pods, but be safe
    it = v.insert(it, std::move(pod));
    add_claims(*it);
    reassign(affected);
    release_changed(before, live_owners(affected));
  }
  changed();
}

void ClusterStore::remove_pod(const std::string& ns, const std::string& name) {
  clear_invalid("Pod " + ns + "/" + name);
  auto& v = cluster_.pods;
  auto it = locate(v, ns, name);
  if (!at(v, it, ns, name)) return;
  const std::string key = it->key();
  record(key);
  const std::vector<common::IpAddr> claims = claimed(*it);
  const auto before = live_owners(claims);
  drop_claims(key, claims);
  shadowed_.erase(key);
  v.erase(it);
  reassign(claims);
  release_changed(before, live_owners(claims));
  changed();
}

void ClusterStore::replace_pods(std::vector<Pod> pods, const std::set<std::string>& invalid) {
  std::sort(pods.begin(), pods.end(), key_less<Pod>);
  // Listed but invalid: keep the last good version (as claimed).
  for (const auto& old : cluster_.pods) {
    if (!invalid.count("Pod " + old.key()) ||
        std::binary_search(pods.begin(), pods.end(), old, key_less<Pod>)) {
      continue;
    }
    Pod kept = old;
    kept.ips = claimed(old);
    pods.insert(std::lower_bound(pods.begin(), pods.end(), kept, key_less<Pod>), std::move(kept));
  }
  bool same = pods.size() == cluster_.pods.size();
  for (std::size_t i = 0; same && i < pods.size(); ++i) {
    Pod& old = cluster_.pods[i];
    std::vector<common::IpAddr> claims = claimed(old);
    std::swap(old.ips, claims);
    same = old == pods[i];
    std::swap(old.ips, claims);
  }
  if (same) return;
  structural_ = true;
  const auto before = all_live_owners();
  cluster_.pods = std::move(pods);
  for (const auto& p : cluster_.pods) imply_namespace(p.namespace_);
  rebuild_owners();
  // The first list only learns who owns what; later relists release what changed meanwhile.
  if (synced_[slot(Resource::pods)]) release_changed(before, all_live_owners());
  changed();
}

}  // namespace watch
