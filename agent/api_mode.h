// The agent with the API server as its source: three informers (namespaces, pods, network
// policies) feed a ClusterStore; this loop turns its changes into syncs.
//
// - Nothing is applied before the first list of all three kinds is complete: a partial
//   picture (policies without their pods) would cut allowed traffic.
// - A burst of events is coalesced: the first change opens a window of `coalesce`, and one
//   compile + diff + batch covers everything that arrived by its end.
// - A failed sync keeps the previous rules and is retried with backoff; every `resync` the
//   kernel's table is read back and drift is repaired.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <mutex>

#include "agent/enforcer.h"
#include "agent/http_endpoints.h"
#include "watch/cluster_store.h"
#include "watch/informer.h"
#include "watch/transport.h"

namespace agent {

struct ApiModeOptions {
  watch::InformerOptions informer;
  std::chrono::milliseconds coalesce{5};
  // Under sustained churn, at most this many syncs per second (a token bucket of `burst`):
  // more events than that share syncs. 0: no limit.
  double max_sync_rate = 20;
  double burst = 5;
  std::chrono::seconds resync{300};
  std::chrono::milliseconds retry_initial{500};
  std::chrono::milliseconds retry_max{30000};
  bool once = false;  // exit after the first successful sync (0) or the first failure (1)
};

class ApiMode {
 public:
  ApiMode(Enforcer& enforcer, watch::Transport& transport, ApiModeOptions options,
          std::shared_ptr<spdlog::logger> log, Registry* registry = nullptr);
  ~ApiMode();
  ApiMode(const ApiMode&) = delete;
  ApiMode& operator=(const ApiMode&) = delete;

  // Runs until `stop` becomes true (checked at least every 200 ms); beats `health` on every
  // turn. Exit code.
  int run(const std::atomic<bool>& stop, Health* health = nullptr);
  // True once the first list of every kind is in (liveness of the watch).
  bool synced() const { return store_.synced(); }
  const watch::ClusterStore& store() const { return store_; }

 private:
  bool wait_synced(const std::atomic<bool>& stop, Health* health);
  bool sync_once(std::chrono::steady_clock::time_point since, std::uint64_t& generation);
  void register_metrics(Registry& registry);

  Enforcer& enforcer_;
  watch::Transport& transport_;
  ApiModeOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  watch::ClusterStore store_;
  std::vector<std::unique_ptr<watch::Informer>> informers_;
  std::vector<std::thread> threads_;
  std::vector<common::IpAddr> pending_released_;  // released IPs of a failed sync, retried
  bool must_compile_ = true;  // the next sync compiles the whole program (no patch)
  mutable std::mutex synced_mu_;
  std::array<std::string, 3> synced_versions_;  // what the kernel holds covers these
  std::uint64_t synced_generation_ = ~0ull;     // the store generation they belong to
};

}  // namespace agent
