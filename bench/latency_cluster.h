// The latency bench's view of the cluster: the synthetic cluster as Kubernetes JSON for the
// stand-in, the verdict one node's kernel gives a flow (to pick probe pairs whose verdict a
// change flips), and what a change must do to the kernel (to recognise it among the
// nf_tables notifications).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "latency_nft_monitor.h"
#include "nft/transaction.h"
#include "policy/cluster.h"

namespace bench {

// Kubernetes objects as the API server would hold them (status included for pods).
nlohmann::json namespace_json(const policy::Namespace& ns);
nlohmann::json pod_json(const policy::Pod& pod);
nlohmann::json policy_json(const policy::NetworkPolicy& np);
// The stand-in's control request that stores `object` as given (status included), with a
// new resourceVersion and a watch event.
std::string store_raw_request(const std::string& resource, const nlohmann::json& object);
// The namespaces every cluster has (the stand-in seeds them), as the API server labels them.
void add_system_namespaces(policy::Cluster& cluster);

// One end of a probe flow: a pod of the model, or an address no pod has (yet).
struct FlowEnd {
  const policy::Pod* pod = nullptr;
  common::IpAddr ip;
};
// Whether `node`'s kernel lets `src` open a TCP connection to `dst` on `port`: the egress
// of a source on the node and the ingress of a destination on the node (the other side is
// the other node's business). Evaluated on a cluster holding only the two pods, their
// namespaces and the policies of those namespaces — exact, since nothing else can change
// that verdict — so that thousands of candidates cost milliseconds at 10k pods. The pods
// need not be in `cluster` (a relabelled copy, a pod about to be added).
bool node_allows(const policy::Cluster& cluster, const FlowEnd& src, const FlowEnd& dst,
                 std::uint16_t port, const std::string& node);

// What a transaction must show among the notifications of the batch that applies it.
struct Expectation {
  // Elements of plain sets and maps (interval sets only by name, their pieces differ).
  std::map<std::string, std::set<KeyBytes>> added, deleted;
  std::set<std::string> interval_sets;
  std::set<std::string> chains_added, chains_deleted, sets_added, sets_deleted;
  std::size_t rules_added = 0;
  std::size_t ops = 0;
  std::size_t element_ops = 0;  // elements added or deleted

  static Expectation of(const nft::Transaction& tx);
  bool empty() const { return ops == 0; }
  // True once the batches seen so far (merged into `seen`) hold everything expected.
  bool met_by(const NftBatch& seen) const;
};

// Merges `b` into `into` (notifications of several batches, for a change applied in more
// than one).
void merge(NftBatch& into, const NftBatch& b);

}  // namespace bench
