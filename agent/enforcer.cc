#include "agent/enforcer.h"

namespace agent {
namespace {

using Clock = std::chrono::steady_clock;

double ms(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

}  // namespace

AgentMetrics::AgentMetrics(Registry& r)
    : syncs(r.labeled_counter("nftpolicy_syncs_total",
                              "Sync rounds, by result (ok, unchanged, failed).", "result")),
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

bool Enforcer::apply(compiler::Compiled compiled, const SyncContext& ctx) {
  const auto t0 = Clock::now();
  const auto stats = compiled.stats;
  auto r = syncer_.sync(std::move(compiled.program), log_->should_log(spdlog::level::trace));
  const auto since = ctx.since == Clock::time_point{} ? t0 : ctx.since;
  if (!r.is_ok()) {
    if (metrics_) {
      metrics_->syncs.inc("failed");
      metrics_->errors.inc("netlink");
    }
    log_->error("sync node={} {} result=failed error=\"{}\" (the previous rules stay in place)",
                options_.node, ctx.fields, r.error().to_string());
    return false;
  }
  auto& rep = r.value();
  if (!rep.transaction.empty()) log_->trace("batch:\n{}", rep.transaction);
  if (rep.drift) {
    log_->warn("the table inet {} was changed behind the agent's back; repaired",
               options_.compile.table);
    if (metrics_) metrics_->drift_repairs.inc();
  }
  ConnectionCutter::Report cut;
  if (cutter_ && (rep.ops > 0 || !ctx.released.empty()) && syncer_.current()) {
    cut = cutter_->after_change(rep.previous ? &*rep.previous : nullptr, *syncer_.current(),
                                ctx.released);
    if (!cut.error.empty()) {
      log_->warn("conntrack cleanup: {}", cut.error);
      if (metrics_) metrics_->errors.inc("conntrack");
    }
  }
  const auto total = Clock::now() - since;
  enforced_ = true;
  const std::size_t messages = rep.ops ? netlink_.last_apply().messages : 0;
  if (metrics_) {
    metrics_->syncs.inc(rep.ops ? "ok" : "unchanged");
    metrics_->sync_seconds.observe(std::chrono::duration<double>(total).count());
    if (messages) metrics_->batch_messages.observe(static_cast<double>(messages));
    metrics_->batch_elements.inc(rep.elements);
    metrics_->chains.set(static_cast<double>(stats.chains));
    metrics_->rules.set(static_cast<double>(stats.rules));
    metrics_->sets.set(static_cast<double>(stats.sets));
    metrics_->elements.set(static_cast<double>(stats.elements));
    metrics_->node_pods.set(static_cast<double>(stats.node_pods));
    metrics_->isolated_pods.set(
        static_cast<double>(stats.isolated_ingress + stats.isolated_egress));
    metrics_->last_sync.set(
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    metrics_->conntrack_examined.inc(cut.examined);
    metrics_->conntrack_deleted.inc(cut.deleted);
  }
  log_->info(
      "sync node={} {} pods={} isolated_ingress={} isolated_egress={} chains={} rules={} sets={} "
      "elements={} ops={} changed_elements={} messages={} attempts={} read_back={} drift={} "
      "repaired={} plan_ms={:.2f} apply_ms={:.2f} conntrack_examined={} conntrack_deleted={} "
      "conntrack_ms={:.2f} total_ms={:.2f} result=ok",
      options_.node, ctx.fields, stats.node_pods, stats.isolated_ingress, stats.isolated_egress,
      stats.chains, stats.rules, stats.sets, stats.elements, rep.ops, rep.elements, messages,
      rep.attempts, rep.read_back, rep.drift, rep.repaired, ms(rep.plan), ms(rep.apply),
      cut.examined, cut.deleted, ms(cut.time), ms(total));
  return true;
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
