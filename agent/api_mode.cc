#include "agent/api_mode.h"

#include <cstdlib>
#include <thread>

namespace agent {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(200);

}  // namespace

ApiMode::ApiMode(Enforcer& enforcer, watch::Transport& transport, ApiModeOptions options,
                 std::shared_ptr<spdlog::logger> log, Registry* registry)
    : enforcer_(enforcer),
      transport_(transport),
      options_(options),
      log_(std::move(log)),
      store_(log_) {
  for (auto r : watch::kResources) {
    informers_.push_back(
        std::make_unique<watch::Informer>(transport_, r, store_, options_.informer));
  }
  if (registry) register_metrics(*registry);
  enforcer_.set_waker([this] { store_.wake(); });
}

ApiMode::~ApiMode() {
  enforcer_.set_waker(nullptr);
  for (auto& i : informers_) i->stop();
  transport_.cancel();
  store_.stop();
  for (auto& t : threads_) t.join();
}

void ApiMode::register_metrics(Registry& registry) {
  auto per_resource = [this](std::atomic<std::uint64_t> watch::InformerStats::*field) {
    return [this, field] {
      std::vector<std::pair<std::string, double>> out;
      for (const auto& i : informers_) {
        out.emplace_back(watch::to_string(i->resource()),
                         static_cast<double>((i->stats().*field).load()));
      }
      return out;
    };
  };
  using S = watch::InformerStats;
  registry.sampled("nftpolicy_watch_lists_total", "Complete LISTs, by resource.", "counter",
                   "resource", per_resource(&S::lists));
  registry.sampled("nftpolicy_watch_relists_total",
                   "Relists after 410 Gone (resourceVersion too old), by resource.", "counter",
                   "resource", per_resource(&S::relists));
  registry.sampled("nftpolicy_watch_requests_total",
                   "WATCH requests started, the first one included (a watch is started again "
                   "when the server ends it or the stream breaks), by resource.",
                   "counter", "resource", per_resource(&S::watches));
  registry.sampled("nftpolicy_watch_events_total", "Watch events received, by resource.", "counter",
                   "resource", per_resource(&S::events));
  registry.sampled("nftpolicy_watch_errors_total",
                   "Failed requests and broken streams, by resource.", "counter", "resource",
                   per_resource(&S::errors));
  registry.sampled("nftpolicy_watch_decode_errors_total",
                   "Malformed lists or watch events, by resource.", "counter", "resource",
                   per_resource(&S::decode_errors));
  registry.sampled("nftpolicy_synced_resource_version",
                   "The resourceVersion up to which each resource's events are in the kernel "
                   "(as a number; tests and benchmarks wait on it).",
                   "gauge", "resource", [this] {
                     // Nothing enforcement needs changed since the last sync (bookmarks,
                     // events that change nothing): the kernel is as good as current.
                     const auto now = store_.version();
                     std::lock_guard lock(synced_mu_);
                     const auto& versions = now.generation == synced_generation_
                                                ? now.resource_versions
                                                : synced_versions_;
                     std::vector<std::pair<std::string, double>> out;
                     for (auto r : watch::kResources) {
                       const auto& rv = versions[static_cast<std::size_t>(r)];
                       out.emplace_back(watch::to_string(r),
                                        rv.empty() ? 0.0 : std::strtod(rv.c_str(), nullptr));
                     }
                     return out;
                   });
  registry.sampled("nftpolicy_watch_malformed_objects_total",
                   "Watch events whose object could not even be named (ignored).", "counter",
                   "resource", [this] {
                     return std::vector<std::pair<std::string, double>>{
                         {"all", static_cast<double>(store_.stats().malformed)}};
                   });
  registry.sampled("nftpolicy_cluster_objects", "Objects known to the agent, by kind.", "gauge",
                   "kind", [this] {
                     const auto s = store_.stats();
                     return std::vector<std::pair<std::string, double>>{
                         {"namespaces", static_cast<double>(s.namespaces)},
                         {"pods", static_cast<double>(s.pods)},
                         {"networkpolicies", static_cast<double>(s.policies)},
                         {"invalid", static_cast<double>(s.invalid)}};
                   });
}

bool ApiMode::wait_synced(const std::atomic<bool>& stop, Health* health) {
  auto next_note = Clock::now() + std::chrono::seconds(10);
  while (!stop) {
    if (health) health->beat();
    if (store_.synced()) return true;
    store_.wait_change(store_.generation(), Clock::now() + kPoll);
    if (Clock::now() > next_note) {
      std::string missing;
      for (const auto& i : informers_) {
        if (!i->stats().synced)
          missing += std::string(missing.empty() ? "" : ", ") + watch::to_string(i->resource());
      }
      log_->info("waiting for the first list of {} (nothing is applied before)", missing);
      next_note = Clock::now() + std::chrono::seconds(10);
    }
  }
  return false;
}

bool ApiMode::sync_once(Clock::time_point since, std::uint64_t& generation) {
  // Pods of other nodes changed, and nothing else: peer-set elements only, no compile.
  // After any failure, or a full resync, the next round compiles.
  std::optional<compiler::Compiled> compiled;
  std::optional<nft::Transaction> patch;
  watch::ClusterStore::View view;
  const auto t0 = Clock::now();
  store_.read(
      [&](const policy::Cluster& cluster, const watch::ClusterStore::View& v) {
        if (!v.structural && !must_compile_) patch = enforcer_.patch(cluster, v.pods);
        if (!patch) compiled = enforcer_.compile(cluster);
        view.generation = v.generation;
        view.resource_versions = v.resource_versions;
      },
      /*take_changes=*/true);
  generation = view.generation;
  // Only IPs that left pods of this node: the flows of other nodes' pods that this node
  // tracks are those of its own pods, re-judged when the peer sets change.
  auto released = store_.take_released_ips(enforcer_.node());
  released.insert(released.end(), pending_released_.begin(), pending_released_.end());
  pending_released_.clear();
  const auto s = store_.stats();
  SyncContext ctx{
      .fields = "generation=" + std::to_string(generation) +
                " cluster_pods=" + std::to_string(s.pods) +
                " policies=" + std::to_string(s.policies) + " invalid=" + std::to_string(s.invalid),
      .since = since,
      .compile = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0),
      .released = released};
  const bool ok =
      patch ? enforcer_.apply_patch(*patch, ctx) : enforcer_.apply(std::move(*compiled), ctx);
  must_compile_ = !ok;
  if (ok) {
    std::lock_guard lock(synced_mu_);
    synced_versions_ = view.resource_versions;
    synced_generation_ = view.generation;
    return true;
  }
  pending_released_ = std::move(released);
  return false;
}

int ApiMode::run(const std::atomic<bool>& stop, Health* health) {
  for (auto& i : informers_) threads_.emplace_back([&i] { i->run(); });
  if (!wait_synced(stop, health)) return 0;
  log_->info("first list complete; enforcing");
  std::uint64_t applied = 0;
  bool have_applied = false;
  Clock::time_point last_sync_end{};
  // Token bucket of syncs: a few at once, then max_sync_rate per second.
  double tokens = options_.burst;
  auto refilled = Clock::now();
  auto take_token = [&] {
    if (options_.max_sync_rate <= 0) return;
    const auto now = Clock::now();
    tokens =
        std::min(options_.burst, tokens + std::chrono::duration<double>(now - refilled).count() *
                                              options_.max_sync_rate);
    refilled = now;
    if (tokens < 1) {
      std::this_thread::sleep_for(
          std::chrono::duration<double>((1 - tokens) / options_.max_sync_rate));
      tokens = 1;
      refilled = Clock::now();
    }
    tokens -= 1;
  };
  auto retry_delay = options_.retry_initial;
  auto next_resync = Clock::now() + options_.resync;
  Clock::time_point retry_at{};
  while (!stop) {
    if (health) health->beat();
    enforcer_.cut_if_due();
    const auto gen = store_.generation();
    const bool tampered = enforcer_.take_tampering();
    const bool resync_due =
        tampered || (options_.resync.count() > 0 && Clock::now() >= next_resync);
    const bool retry_due = retry_at != Clock::time_point{} && Clock::now() >= retry_at;
    if (!have_applied || gen != applied || resync_due || retry_due) {
      const auto since = Clock::now();
      // A change after a quiet spell is applied at once; one that arrives while the last
      // sync was running opens a window, and what arrives within it joins this round.
      if (have_applied && gen != applied && !retry_due &&
          since - last_sync_end < options_.coalesce) {
        std::this_thread::sleep_for(options_.coalesce);
      }
      take_token();
      if (resync_due) {
        enforcer_.invalidate();  // read the kernel back: drift or tampering is repaired
        must_compile_ = true;
        next_resync = Clock::now() + options_.resync;
      }
      std::uint64_t generation = 0;
      const bool synced = sync_once(since, generation);
      last_sync_end = Clock::now();
      if (synced) {
        applied = generation;
        have_applied = true;
        retry_at = {};
        retry_delay = options_.retry_initial;
        if (options_.once) return 0;
      } else {
        if (options_.once) return 1;
        applied = generation;  // retried by the timer, not spun on by the generation
        have_applied = true;
        retry_at = Clock::now() + retry_delay;
        retry_delay = std::min(options_.retry_max, retry_delay * 2);
      }
      continue;
    }
    auto deadline = Clock::now() + kPoll;
    if (options_.resync.count() > 0) deadline = std::min(deadline, next_resync);
    if (const auto cut = enforcer_.cut_due()) deadline = std::min(deadline, *cut);
    if (retry_at != Clock::time_point{}) deadline = std::min(deadline, retry_at);
    store_.wait_change(applied, deadline);
  }
  return 0;
}

}  // namespace agent
