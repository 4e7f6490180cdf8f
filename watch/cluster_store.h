// ClusterStore: the cluster as the informers report it, kept as the policy::Cluster the
// compiler reads — incrementally, so that one event costs a lookup and an insert, not a
// rebuild.
//
// - Only what enforcement needs is kept (policy::Pod, Namespace, NetworkPolicy: labels,
//   IPs, node, ports, phase, hostNetwork, deletion), parsed and validated as the loader does.
// - An event that changes nothing enforcement needs (a pod's conditions, an annotation)
//   leaves the generation alone: no recompile.
// - An invalid object (malformed, or a NetworkPolicy the API server should have refused)
//   never replaces the last good version of that object; a new invalid object is left out.
//   Either way it is reported once, with its field path.
// - An IP claimed by several pods belongs to one (policy::prefers_ip_owner), as in
//   Cluster::resolve_ip_conflicts; the IPs that stop belonging to a live pod (deleted,
//   finished, taken over) are queued for the conntrack cleanup (take_released_ips).
// - A namespace deleted while pods or policies remain in it stays implied (name label only).
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/cluster.h"
#include "policy/parse.h"
#include "watch/informer.h"

namespace watch {

struct StoreStats {
  std::size_t namespaces = 0;
  std::size_t pods = 0;
  std::size_t policies = 0;
  std::size_t invalid = 0;  // objects currently invalid (left out or kept at their last good)
  std::uint64_t generation = 0;
  std::uint64_t events = 0;     // events and listed objects applied
  std::uint64_t unchanged = 0;  // of those, changed nothing enforcement needs
  std::uint64_t malformed = 0;  // events whose object has no name: ignored
};

struct IpHash {
  std::size_t operator()(const common::IpAddr& ip) const noexcept;
};

class ClusterStore final : public EventSink {
 public:
  explicit ClusterStore(std::shared_ptr<spdlog::logger> log = nullptr);
  ~ClusterStore() override;

  // EventSink (informer threads).
  void begin_list(Resource r) override;
  void listed(Resource r, const nlohmann::json& object) override;
  void end_list(Resource r, bool complete, const std::string& rv) override;
  void event(Resource r, EventType type, const nlohmann::json& object) override;
  void progress(Resource r, const std::string& rv) override;

  // True once every resource has completed a first list.
  bool synced() const;
  std::uint64_t generation() const;
  // Blocks until the generation differs from `seen`, `deadline` passes or stop() is called;
  // returns the generation.
  std::uint64_t wait_change(std::uint64_t seen, std::chrono::steady_clock::time_point deadline);
  void stop();
  // Ends the current (or next) wait_change() early, without a change (another reason to look).
  void wake();

  // What a reader sees besides the cluster: its generation, and the resourceVersion up to
  // which each resource (index: Resource) has been delivered into it.
  struct View {
    std::uint64_t generation = 0;
    std::array<std::string, 3> resource_versions;
    // What changed since the previous read that took changes: namespaces, policies or a
    // relist (`structural`), else only these pods.
    bool structural = true;
    std::vector<policy::PodChange> pods;
  };
  // The generation and resourceVersions alone, without the cluster.
  View version() const;
  // Runs `reader` on the cluster under the store's lock (writers wait meanwhile). With
  // `take_changes`, the view carries the changes since the last such read, and they are
  // forgotten.
  void read(const std::function<void(const policy::Cluster&, const View&)>& reader,
            bool take_changes = false);
  // IPs that stopped belonging to a live pod since the last call; with `node`, only those
  // of pods of that node (the ones whose connections this node tracks as its pods').
  std::vector<common::IpAddr> take_released_ips(const std::string& node = "");
  // "Pod x/a: status.podIPs[0].ip: Invalid value ..." for every currently invalid object.
  std::vector<std::string> invalid_objects() const;
  StoreStats stats() const;

 private:
  struct Staging;
  // The live (not finished) owner of each IP: its key and its node.
  struct Owner {
    std::string key;
    std::string node;
  };
  using OwnerMap = std::unordered_map<common::IpAddr, Owner, IpHash>;

  void changed();
  bool report_invalid(const std::string& key, const policy::FieldErrors& errors);
  void clear_invalid(const std::string& key);
  void upsert_pod(policy::Pod pod);
  void remove_pod(const std::string& ns, const std::string& name);
  void upsert_policy(policy::NetworkPolicy np);
  void remove_policy(const std::string& ns, const std::string& name);
  void upsert_namespace(policy::Namespace ns);
  void remove_namespace(const std::string& name);
  void imply_namespace(const std::string& name);
  // A complete list; `invalid` names the objects listed but invalid (their last good
  // versions stay).
  void replace_pods(std::vector<policy::Pod> pods, const std::set<std::string>& invalid);
  void replace_policies(std::vector<policy::NetworkPolicy> policies,
                        const std::set<std::string>& invalid);
  void replace_namespaces(std::vector<policy::Namespace> namespaces,
                          const std::set<std::string>& invalid);

  // IP ownership.
  const std::vector<common::IpAddr>& claimed(const policy::Pod& pod) const;
  const policy::Pod* owner_of(const common::IpAddr& ip) const;
  void add_claims(const policy::Pod& pod);
  void drop_claims(const std::string& key, const std::vector<common::IpAddr>& ips);
  void reassign(const std::vector<common::IpAddr>& ips);
  void rebuild_owners();
  OwnerMap live_owners(const std::vector<common::IpAddr>& ips) const;
  OwnerMap all_live_owners() const;
  void release_changed(const OwnerMap& before, const OwnerMap& after);
  policy::Pod* find_pod(const std::string& key);  // "ns/name"
  const policy::Pod* find_pod(const std::string& key) const;

  std::shared_ptr<spdlog::logger> log_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  bool woken_ = false;
  policy::Cluster cluster_;
  std::uint64_t generation_ = 0;
  StoreStats counters_;
  std::array<bool, 3> synced_{};
  std::array<std::string, 3> rv_;
  // Lists in progress, one slot per resource: only that resource's informer thread uses it.
  std::array<std::unique_ptr<Staging>, 3> staging_;
  std::map<std::string, std::string> invalid_;  // "Pod x/a" -> the errors
  // Pods (keys "ns/name") claiming each IP, hostNetwork pods excluded; and the IPs claimed
  // by pods that lost some of them to another pod (the others' claims are their ips).
  std::unordered_map<common::IpAddr, std::vector<std::string>, IpHash> claimants_;
  std::unordered_map<std::string, std::vector<common::IpAddr>> shadowed_;
  std::vector<std::pair<common::IpAddr, std::string>> released_;  // with the owner's node
  // Changes since the last read that took them: pods by key with their version before the
  // first change (absent: they did not exist), or "anything" (structural_).
  void record(const std::string& key);
  std::map<std::string, std::optional<policy::Pod>> pod_changes_;
  bool structural_ = true;
};

}  // namespace watch
