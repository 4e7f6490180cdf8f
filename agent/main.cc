// nftpolicy-agent: enforces Kubernetes NetworkPolicies on this node with nftables.
//
// Static mode: the cluster state comes from manifests on disk; every change of the files is
// compiled and applied as the difference to what the kernel holds, in one atomic batch.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdlib>

#include "agent/manifest_source.h"
#include "agent/syncer.h"
#include "compiler/compiler.h"
#include "nft/kernel_netlink.h"

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop = true;
}

struct Flags {
  std::string node;
  std::vector<std::string> manifests;
  bool once = false;
  std::string table = "nftpolicy";
  bool judge_node_traffic = false;
  bool no_counters = false;
  int resync_seconds = 300;
  std::string log_level = "info";
};

double ms(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1000.0;
}

class Agent {
 public:
  Agent(const Flags& f, nft::KernelNetlink& nl, std::shared_ptr<spdlog::logger> log)
      : flags_(f), nl_(nl), syncer_(nl), log_(std::move(log)) {}

  // One load -> compile -> apply round. False leaves the kernel's previous rules in place.
  bool sync();
  // The next sync reads the kernel's table back first, so drift is seen and repaired.
  void invalidate() { syncer_.invalidate(); }

 private:
  const Flags& flags_;
  nft::KernelNetlink& nl_;
  agent::Syncer syncer_;
  std::shared_ptr<spdlog::logger> log_;
};

bool Agent::sync() {
  const auto t0 = Clock::now();
  auto loaded = agent::load_manifests(flags_.manifests);
  if (!loaded.snapshot) {
    for (const auto& d : loaded.fatal) log_->error("manifests: {}", d.str());
    log_->error(
        "sync node={} result=skipped reason=\"unusable manifests; the previous rules "
        "stay in place\"",
        flags_.node);
    return false;
  }
  const auto& snap = *loaded.snapshot;
  for (const auto& d : snap.skipped) log_->warn("skipping invalid object: {}", d.str());
  const auto compiled = compiler::compile(snap.cluster, flags_.node,
                                          {.table = flags_.table,
                                           .allow_node_traffic = !flags_.judge_node_traffic,
                                           .counters = !flags_.no_counters});
  const auto compile_time =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
  auto r = syncer_.sync(compiled.program);
  if (!r.is_ok()) {
    log_->error("sync node={} result=failed error=\"{}\" (the previous rules stay in place)",
                flags_.node, r.error().to_string());
    return false;
  }
  const auto& rep = r.value();
  const auto& s = compiled.stats;
  log_->info(
      "sync node={} pods={} isolated_ingress={} isolated_egress={} policies={} skipped={} "
      "chains={} rules={} sets={} elements={} ops={} changed_elements={} messages={} "
      "attempts={} read_back={} repaired={} load_compile_ms={:.2f} plan_ms={:.2f} "
      "apply_ms={:.2f} result=ok",
      flags_.node, s.node_pods, s.isolated_ingress, s.isolated_egress, snap.cluster.policies.size(),
      snap.skipped.size(), s.chains, s.rules, s.sets, s.elements, rep.ops, rep.elements,
      rep.ops ? nl_.last_apply().messages : 0, rep.attempts, rep.read_back, rep.repaired,
      ms(compile_time), ms(rep.plan), ms(rep.apply));
  return true;
}

int run(const Flags& f) {
  auto log = spdlog::stderr_color_mt("agent");
  log->set_level(spdlog::level::from_str(f.log_level));
  auto opened = nft::KernelNetlink::open();
  if (!opened.is_ok()) {
    log->error("cannot open the nf_tables netlink socket: {} (the agent needs CAP_NET_ADMIN)",
               opened.error().to_string());
    return 1;
  }
  auto nl = std::move(opened).value();
  Agent agent(f, *nl, log);
  if (f.once) return agent.sync() ? 0 : 1;

  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  agent::ManifestWatcher watcher(f.manifests);
  if (!watcher.ok()) log->warn("inotify unavailable: changes are picked up by resync only");
  log->info("watching {} path(s) for node {}", f.manifests.size(), f.node);
  (void)agent.sync();
  auto last_resync = Clock::now();
  while (!g_stop) {
    if (watcher.wait(std::chrono::milliseconds(500), std::chrono::milliseconds(100))) {
      (void)agent.sync();
    }
    if (f.resync_seconds > 0 &&
        Clock::now() - last_resync > std::chrono::seconds(f.resync_seconds)) {
      last_resync = Clock::now();
      agent.invalidate();  // drift or tampering since the last sync is repaired
      (void)agent.sync();
    }
  }
  log->info("stopping; the rules stay in place until the next agent takes over");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "nftpolicy-agent: enforces Kubernetes NetworkPolicies (networking.k8s.io/v1) on this node "
      "with nftables (table inet nftpolicy), applied over netlink as atomic, incremental "
      "batches.\n"};
  Flags f;
  if (const char* env = std::getenv("NODE_NAME")) f.node = env;
  app.add_option("--node", f.node, "This node's name (spec.nodeName of its pods; env NODE_NAME)");
  app.add_option("--manifests", f.manifests,
                 "Manifests to enforce: YAML/JSON files or directories (recursive), as "
                 "`kubectl get ns,pods,netpol -A -o yaml` prints them; repeatable")
      ->required()
      ->expected(1, -1);
  app.add_flag("--once", f.once,
               "Apply once and exit: 0 when enforced, 1 on any failure (the previous rules "
               "stay untouched)");
  app.add_option("--table", f.table, "Name of the inet table the agent owns");
  app.add_flag("--judge-node-traffic", f.judge_node_traffic,
               "Apply ingress policies to connections from this node too (default: the node, "
               "e.g. kubelet probes, reaches its pods)");
  app.add_flag("--no-counters", f.no_counters, "No counters on drop rules");
  app.add_option("--resync-interval", f.resync_seconds,
                 "Seconds between read-back-and-repair rounds (0: never)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.footer("Exit codes: 0 ok; 1 the rules could not be applied; 2 usage error.");
  try {
    app.parse(argc, argv);
    if (f.node.empty()) throw CLI::RequiredError("--node");
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return run(f);
}
