// Enforcer: one round of "compile the cluster for this node, make the kernel's table equal to
// it in one atomic batch, cut the connections the change denies". Shared by both sources of
// cluster state (the API server, manifests on disk); it logs one info line per sync and keeps
// the metrics.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/metrics.h"
#include "agent/syncer.h"
#include "common/ip.h"
#include "compiler/compiler.h"
#include "nft/kernel_netlink.h"

namespace agent {

// The seam to the conntrack cleanup. After every applied change the Enforcer notes what it
// may have denied; the cut itself (kernel dumps: each walks the whole conntrack hash) runs at
// most every EnforcerOptions::cut_interval, over everything noted meanwhile, judged by the
// program the kernel holds then.
class ConnectionCutter {
 public:
  struct Change {
    const nft::Program* before = nullptr;  // what the kernel held (absent: unknown)
    const nft::Program* after = nullptr;   // what it holds now
    // When known: only flows from or to these addresses can have become denied (addresses
    // that left peer sets); `before` is then not needed.
    std::optional<std::set<common::IpAddr>> addresses;
    std::vector<common::IpAddr> released;  // IPs that stopped belonging to this node's pods
  };
  struct Report {
    std::size_t examined = 0;
    std::size_t deleted = 0;
    std::chrono::microseconds time{0};
    std::string error;  // empty: fine
  };
  virtual ~ConnectionCutter() = default;
  // Records what `change` may have denied, or allowed again (cheap: no kernel dump).
  virtual void note(const Change& change) = 0;
  virtual bool pending() const = 0;
  // Deletes the tracked connections in everything noted that `current` denies.
  virtual Report cut(const nft::Program& current) = 0;
};

// The agent's metrics (registered once, updated by every sync).
struct AgentMetrics {
  explicit AgentMetrics(Registry& r);
  LabeledCounter& syncs;
  LabeledCounter& sync_kinds;
  Histogram& sync_seconds;
  Histogram& batch_messages;
  Counter& batch_elements;
  Gauge& chains;
  Gauge& rules;
  Gauge& sets;
  Gauge& elements;
  Gauge& node_pods;
  Gauge& isolated_pods;
  Gauge& last_sync;
  LabeledCounter& errors;
  Counter& conntrack_examined;
  Counter& conntrack_deleted;
  Counter& drift_repairs;
};

struct EnforcerOptions {
  std::string node;
  compiler::Options compile;
  // Connections a change denies are cut at most this often (each cut walks the kernel's
  // conntrack hash, ≈5 ms): under churn, changes share a cut.
  std::chrono::milliseconds cut_interval{250};
};

// The wait before the next conntrack cut: `interval`; after `failures` failed cuts in a row,
// doubled per failure from at least 10 ms (an interval of 0 must not retry in a busy loop),
// at most 30 s. Nothing noted is dropped meanwhile.
std::chrono::milliseconds cut_delay(std::chrono::milliseconds interval, int failures);

// What the caller knows about the round, for the log line and the metrics.
struct SyncContext {
  std::string fields;  // extra key=value fields for the log line ("generation=12")
  std::chrono::steady_clock::time_point since{};  // when the first change of the round arrived
  std::chrono::microseconds compile{0};           // compiling (or computing the patch)
  std::vector<common::IpAddr> released;           // IPs that left their pods
};

class Enforcer {
 public:
  Enforcer(nft::KernelNetlink& netlink, EnforcerOptions options,
           std::shared_ptr<spdlog::logger> log, AgentMetrics* metrics = nullptr,
           ConnectionCutter* cutter = nullptr);

  // Pure: run it under the lock of whatever owns the cluster.
  compiler::Compiled compile(const policy::Cluster& cluster) const;
  // Applies a compiled program; false leaves the kernel's previous rules in place.
  bool apply(compiler::Compiled compiled, const SyncContext& context);
  // The element changes that bring the kernel's table to what compile(cluster) would give,
  // when `changes` (pods only) allow it (compiler/incremental.h); nullopt: compile. Pure
  // too: run it under the same lock.
  std::optional<nft::Transaction> patch(const policy::Cluster& cluster,
                                        const std::vector<policy::PodChange>& changes) const;
  // Applies such a patch; false leaves the kernel's previous rules in place (the next round
  // must compile).
  bool apply_patch(const nft::Transaction& patch, const SyncContext& context);
  // The next apply reads the kernel's table back first (drift and tampering are repaired).
  void invalidate() {
    syncer_.invalidate();
    recipes_.reset();
  }
  const std::string& node() const { return options_.node; }
  // Someone else changed our table (TableMonitor): the next round reads it back and repairs.
  void note_tampering() {
    tampered_ = true;
    std::lock_guard lock(waker_mu_);
    if (waker_) waker_();
  }
  // Called (from any thread) when the loop should run now rather than at its next poll.
  void set_waker(std::function<void()> waker) {
    std::lock_guard lock(waker_mu_);
    waker_ = std::move(waker);
  }
  bool take_tampering() { return tampered_.exchange(false); }
  // True once a sync has succeeded (readiness).
  bool enforced() const { return enforced_; }
  // Deletes our table (--cleanup-on-exit).
  bool remove_table();
  // Runs the conntrack cut if one is pending and its interval has passed; when it would be due
  // (for the caller's wait), if one is pending.
  void cut_if_due();
  std::optional<std::chrono::steady_clock::time_point> cut_due() const;
  // Failed conntrack cuts in a row (0 after a successful one).
  int cut_failures() const { return cut_failures_; }

 private:
  using Clock = std::chrono::steady_clock;
  // The log line, the metrics and the conntrack cleanup of an applied sync.
  void finish(const SyncReport& report, const ConnectionCutter::Change& change,
              const SyncContext& context, Clock::time_point t0, const char* kind);
  // Notes the change for the cutter and cuts now if the interval allows it.
  ConnectionCutter::Report note_and_cut(const ConnectionCutter::Change& change, bool changed);
  ConnectionCutter::Report cut_now();
  // When the next cut may run: cut_delay() after the end of the last one.
  Clock::time_point next_cut() const {
    return last_cut_ + cut_delay(options_.cut_interval, cut_failures_);
  }
  void record(const SyncReport& report, const ConnectionCutter::Report& cut, std::size_t messages,
              Clock::duration total, const char* kind);

  nft::KernelNetlink& netlink_;
  EnforcerOptions options_;
  Syncer syncer_;
  std::shared_ptr<spdlog::logger> log_;
  AgentMetrics* metrics_;
  ConnectionCutter* cutter_;
  std::optional<compiler::Recipes> recipes_;  // of the program the kernel holds
  compiler::CompileStats stats_;              // of the last compile
  std::atomic<bool> enforced_{false};
  std::atomic<bool> tampered_{false};
  std::mutex waker_mu_;
  std::function<void()> waker_;
  Clock::time_point last_cut_{};
  int cut_failures_ = 0;
};

}  // namespace agent
