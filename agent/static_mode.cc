#include "agent/static_mode.h"

#include "agent/manifest_source.h"

namespace agent {
namespace {

using Clock = std::chrono::steady_clock;

bool sync(Enforcer& enforcer, const StaticModeOptions& options, spdlog::logger& log) {
  const auto t0 = Clock::now();
  auto loaded = load_manifests(options.manifests);
  if (!loaded.snapshot) {
    for (const auto& d : loaded.fatal) log.error("manifests: {}", d.str());
    log.error(
        "sync result=skipped reason=\"unusable manifests; the previous rules stay in place\"");
    return false;
  }
  const auto& snap = *loaded.snapshot;
  for (const auto& d : snap.skipped) log.warn("skipping invalid object: {}", d.str());
  const auto t1 = Clock::now();
  auto compiled = enforcer.compile(snap.cluster);
  SyncContext ctx{
      .fields = "files=" + std::to_string(snap.files) +
                " policies=" + std::to_string(snap.cluster.policies.size()) +
                " skipped=" + std::to_string(snap.skipped.size()),
      .since = t0,
      .compile = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t1)};
  return enforcer.apply(std::move(compiled), ctx);
}

}  // namespace

int run_static_mode(Enforcer& enforcer, const StaticModeOptions& options,
                    const std::atomic<bool>& stop, spdlog::logger& log, Health& health) {
  health.beat();
  if (options.once) return sync(enforcer, options, log) ? 0 : 1;
  ManifestWatcher watcher(options.manifests);
  if (!watcher.ok()) log.warn("inotify unavailable: changes are picked up by resync only");
  log.info("watching {} path(s)", options.manifests.size());
  (void)sync(enforcer, options, log);
  auto last_resync = Clock::now();
  while (!stop) {
    health.beat();
    enforcer.cut_if_due();
    if (watcher.wait(std::chrono::milliseconds(200), std::chrono::milliseconds(100))) {
      (void)sync(enforcer, options, log);
    }
    if (enforcer.take_tampering() ||
        (options.resync.count() > 0 && Clock::now() - last_resync > options.resync)) {
      last_resync = Clock::now();
      enforcer.invalidate();  // drift or tampering since the last sync is repaired
      (void)sync(enforcer, options, log);
    }
  }
  return 0;
}

}  // namespace agent
