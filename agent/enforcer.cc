#include "agent/enforcer.h"

#include <malloc.h>

#include <algorithm>

#include "compiler/incremental.h"

namespace agent {
namespace {

double ms(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

}  // namespace

std::chrono::milliseconds cut_delay(std::chrono::milliseconds interval, int failures) {
  using std::chrono::milliseconds;
  if (failures <= 0) return interval;
  constexpr milliseconds kMax{30000};
  milliseconds delay = std::max(interval, milliseconds{10});
  for (int i = 1; i < failures && delay < kMax; ++i) delay *= 2;
  return std::min(delay, kMax);
}

AgentMetrics::AgentMetrics(Registry& r)
    : syncs(r.labeled_counter("nftpolicy_syncs_total",
                              "Sync rounds, by result (ok, unchanged, failed).", "result")),
      sync_kinds(r.labeled_counter(
          "nftpolicy_sync_kinds_total",
          "Applied syncs by kind: compile (whole program compiled and diffed) or incremental "
          "(pods of other nodes changed: peer-set elements only).",
          "kind")),
      sync_seconds(r.histogram(
          "nftpolicy_sync_duration_seconds",
          "Duration of a sync round: compile, plan and apply (first change to last ACK).",
          {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})),
      batch_messages(r.histogram("nftpolicy_netlink_batch_messages",
                                 "Netlink messages per applied batch (begin and end included).",
                                 {3, 4, 8, 16, 64, 256, 1024, 4096, 16384, 65536})),
      batch_elements(
          r.counter("nftpolicy_netlink_elements_total", "Set and map elements added or deleted.")),
      chains(r.gauge("nftpolicy_chains", "Chains in the agent's table.")),
      rules(r.gauge("nftpolicy_rules", "Rules in the agent's table.")),
      sets(r.gauge("nftpolicy_sets", "Sets and verdict maps in the agent's table.")),
      elements(r.gauge("nftpolicy_set_elements", "Elements of all sets and maps of the table.")),
      node_pods(r.gauge("nftpolicy_node_pods", "Pods of this node with an address.")),
      isolated_pods(r.gauge("nftpolicy_isolated_pods",
                            "Pods of this node isolated for ingress or egress (counted twice "
                            "when isolated for both).")),
      last_sync(r.gauge("nftpolicy_last_sync_timestamp_seconds",
                        "Unix time of the last successful sync.")),
      errors(r.labeled_counter("nftpolicy_errors_total", "Errors, by kind.", "kind")),
      conntrack_examined(r.counter("nftpolicy_conntrack_examined_total",
                                   "Conntrack entries judged after policy changes.")),
      conntrack_deleted(r.counter("nftpolicy_conntrack_deleted_total",
                                  "Conntrack entries deleted: connections a change denied, and "
                                  "connections of IPs that left their pods.")),
      drift_repairs(r.counter("nftpolicy_drift_repairs_total",
                              "Read-backs that found the table changed behind the agent's back "
                              "(edited, flushed or deleted by hand), each repaired.")) {}

Enforcer::Enforcer(nft::KernelNetlink& netlink, EnforcerOptions options,
                   std::shared_ptr<spdlog::logger> log, AgentMetrics* metrics,
                   ConnectionCutter* cutter)
    : netlink_(netlink),
      options_(std::move(options)),
      syncer_(netlink),
      log_(std::move(log)),
      metrics_(metrics),
      cutter_(cutter) {}

compiler::Compiled Enforcer::compile(const policy::Cluster& cluster) const {
  return compiler::compile(cluster, options_.node, options_.compile);
}

std::optional<nft::Transaction> Enforcer::patch(
    const policy::Cluster& cluster, const std::vector<policy::PodChange>& changes) const {
  if (!recipes_ || !syncer_.current()) return std::nullopt;
  return compiler::update_peer_sets(*syncer_.current(), *recipes_, cluster, changes, options_.node);
}

bool Enforcer::apply_patch(const nft::Transaction& patch, const SyncContext& ctx) {
  const auto t0 = Clock::now();
  auto r = syncer_.apply_elements(patch, log_->should_log(spdlog::level::trace));
  if (!r.is_ok()) {
    recipes_.reset();
    if (metrics_) {
      metrics_->syncs.inc("failed");
      metrics_->errors.inc("netlink");
    }
    log_->error(
        "sync node={} {} kind=incremental result=failed error=\"{}\" (the previous "
        "rules stay in place)",
        options_.node, ctx.fields, r.error().to_string());
    return false;
  }
  stats_.elements += patch.elements_added();
  stats_.elements -= std::min(stats_.elements, patch.elements_deleted());
  // Peer sets only allow: an address that joined one cannot deny anything, one that left
  // may have (its flows with this node's pods).
  std::set<common::IpAddr> left;
  for (const auto& op : patch.ops) {
    const auto* d = std::get_if<nft::op::DeleteElements>(&op);
    if (!d) continue;
    for (const auto& e : d->elements) {
      common::IpAddr ip{.family = e.key.size() == 4 ? common::Family::kV4 : common::Family::kV6};
      std::copy(e.key.begin(), e.key.end(), ip.bytes.begin());
      left.insert(ip);
    }
  }
  finish(r.value(),
         ConnectionCutter::Change{
             .after = syncer_.current(), .addresses = std::move(left), .released = ctx.released},
         ctx, t0, "incremental");
  return true;
}

bool Enforcer::apply(compiler::Compiled compiled, const SyncContext& ctx) {
  const auto t0 = Clock::now();
  stats_ = compiled.stats;
  auto recipes = std::move(compiled.recipes);
  auto r = syncer_.sync(std::move(compiled.program), log_->should_log(spdlog::level::trace));
  if (!r.is_ok()) {
    recipes_.reset();
    if (metrics_) {
      metrics_->syncs.inc("failed");
      metrics_->errors.inc("netlink");
    }
    log_->error("sync node={} {} result=failed error=\"{}\" (the previous rules stay in place)",
                options_.node, ctx.fields, r.error().to_string());
    return false;
  }
  recipes_ = std::move(recipes);
  auto& rep = r.value();
  if (rep.drift) {
    log_->warn("the table inet {} was changed behind the agent's back; repaired",
               options_.compile.table);
    if (metrics_) metrics_->drift_repairs.inc();
  }
  finish(rep,
         ConnectionCutter::Change{.before = rep.previous ? &*rep.previous : nullptr,
                                  .after = syncer_.current(),
                                  .released = ctx.released},
         ctx, t0, "compile");
  return true;
}

void Enforcer::finish(const SyncReport& rep, const ConnectionCutter::Change& change,
                      const SyncContext& ctx, Clock::time_point t0, const char* kind) {
  const auto acked = Clock::now();
  if (!rep.transaction.empty()) log_->trace("batch:\n{}", rep.transaction);
  const auto cut = note_and_cut(change, rep.ops > 0);
  const auto since = ctx.since == Clock::time_point{} ? t0 : ctx.since;
  const auto total = Clock::now() - since;
  enforced_ = true;
  const std::size_t messages = rep.ops ? netlink_.last_apply().messages : 0;
  if (metrics_) record(rep, cut, messages, acked - since, kind);
  log_->info(
      "sync node={} {} kind={} pods={} isolated_ingress={} isolated_egress={} chains={} "
      "rules={} sets={} elements={} ops={} changed_elements={} messages={} attempts={} "
      "read_back={} drift={} repaired={} compile_ms={:.2f} plan_ms={:.2f} apply_ms={:.2f} "
      "ack_ms={:.2f} conntrack_examined={} conntrack_deleted={} conntrack_ms={:.2f} "
      "total_ms={:.2f} result=ok",
      options_.node, ctx.fields, kind, stats_.node_pods, stats_.isolated_ingress,
      stats_.isolated_egress, stats_.chains, stats_.rules, stats_.sets, stats_.elements, rep.ops,
      rep.elements, messages, rep.attempts, rep.read_back, rep.drift, rep.repaired, ms(ctx.compile),
      ms(rep.plan), ms(rep.apply), ms(acked - since), cut.examined, cut.deleted, ms(cut.time),
      ms(total));
  // Large read-backs and first compiles leave freed memory behind: give it back.
  if (rep.read_back) ::malloc_trim(0);
}

ConnectionCutter::Report Enforcer::note_and_cut(const ConnectionCutter::Change& change,
                                                bool changed) {
  if (!cutter_ || !change.after) return {};
  const auto t0 = Clock::now();
  // Nothing sent and no IP released: nothing can be denied or allowed anew. (A patch that
  // only added to peer sets denies nothing, but may allow a flow the cutter holds in
  // quarantine: the cutter sees it too, and decides.)
  const bool nothing = change.released.empty() && !changed;
  if (!nothing) cutter_->note(change);
  const auto noted = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
  if (!cutter_->pending() || Clock::now() < next_cut()) return {.time = noted};
  auto r = cut_now();
  r.time += noted;
  return r;
}

ConnectionCutter::Report Enforcer::cut_now() {
  const auto* current = syncer_.current();
  if (!cutter_ || !current) return {};
  auto r = cutter_->cut(*current);
  // From the end: a cut that takes longer than the interval (a whole-table dump of a large
  // table) does not run back to back.
  last_cut_ = Clock::now();
  if (r.error.empty()) {
    cut_failures_ = 0;
  } else {
    ++cut_failures_;
    log_->warn("conntrack cleanup failed ({} in a row), retried in {} ms: {}", cut_failures_,
               cut_delay(options_.cut_interval, cut_failures_).count(), r.error);
    if (metrics_) metrics_->errors.inc("conntrack");
  }
  return r;
}

void Enforcer::cut_if_due() {
  const auto due = cut_due();
  if (!due || Clock::now() < *due) return;
  const auto r = cut_now();
  if (metrics_) {
    metrics_->conntrack_examined.inc(r.examined);
    metrics_->conntrack_deleted.inc(r.deleted);
  }
  log_->log(r.deleted ? spdlog::level::info : spdlog::level::debug,
            "conntrack cut node={} examined={} deleted={} conntrack_ms={:.2f}", options_.node,
            r.examined, r.deleted, ms(r.time));
}

std::optional<Enforcer::Clock::time_point> Enforcer::cut_due() const {
  // Nothing to judge by while the kernel's program is unknown (after a failed apply): the
  // next successful sync cuts. (A due time in the past here would spin the caller's wait.)
  if (!cutter_ || !cutter_->pending() || !syncer_.current()) return std::nullopt;
  return next_cut();
}

void Enforcer::record(const SyncReport& rep, const ConnectionCutter::Report& cut,
                      std::size_t messages, Clock::duration total, const char* kind) {
  metrics_->syncs.inc(rep.ops ? "ok" : "unchanged");
  if (rep.ops) metrics_->sync_kinds.inc(kind);
  metrics_->sync_seconds.observe(std::chrono::duration<double>(total).count());
  if (messages) metrics_->batch_messages.observe(static_cast<double>(messages));
  metrics_->batch_elements.inc(rep.elements);
  metrics_->chains.set(static_cast<double>(stats_.chains));
  metrics_->rules.set(static_cast<double>(stats_.rules));
  metrics_->sets.set(static_cast<double>(stats_.sets));
  metrics_->elements.set(static_cast<double>(stats_.elements));
  metrics_->node_pods.set(static_cast<double>(stats_.node_pods));
  metrics_->isolated_pods.set(
      static_cast<double>(stats_.isolated_ingress + stats_.isolated_egress));
  metrics_->last_sync.set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  metrics_->conntrack_examined.inc(cut.examined);
  metrics_->conntrack_deleted.inc(cut.deleted);
}

bool Enforcer::remove_table() {
  nft::Transaction tx;
  tx.table = options_.compile.table;
  tx.ops.push_back(nft::op::DeleteTable{});
  auto st = netlink_.apply(tx);
  if (!st && st.error().code != nft::Errc::not_found) {
    log_->error("cannot delete table inet {}: {}", tx.table, st.error().to_string());
    return false;
  }
  syncer_.invalidate();
  log_->info("deleted table inet {}", tx.table);
  return true;
}

}  // namespace agent
