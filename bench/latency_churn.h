// Pod churn on the other nodes of the cluster, for the CPU figure (P6): one write at a time,
// a realistic mix — most pod updates are status and metadata noise enforcement ignores
// (conditions, annotations), the rest relabels (some join or leave peer sets), additions
// and deletions (with an address: they join and leave peer sets). undo() gives the writes
// that bring the API back to the seeded cluster, so that later figures start from it.
#pragma once

#include <map>
#include <random>
#include <string>
#include <vector>

#include "policy/cluster.h"

namespace bench {

class PodChurn {
 public:
  // `first_index`: synthetic_pod() index of the first pod added (names churn-N, IPs
  // unused by the cluster).
  PodChurn(const policy::Cluster& cluster, const std::string& node, int first_index);

  // The next write (one HTTP request, formatted); `seq` numbers it.
  std::string next_write(int seq);
  // The writes undoing everything so far (the added pods deleted, the labels put back).
  std::vector<std::string> undo();
  // Writes so far, by kind: status, annotation, relabel, add, delete.
  const std::map<std::string, int>& mix() const { return mix_; }

 private:
  std::mt19937 rnd_{11};
  std::vector<const policy::Pod*> others_;  // pods of the other nodes
  std::map<std::string, std::pair<const policy::Pod*, std::string>> relabelled_;  // first app
  std::vector<policy::Pod> added_;
  int next_ = 0;
  int namespaces_ = 0;  // of the synthetic cluster (ns-0...)
  std::map<std::string, int> mix_;
};

}  // namespace bench
