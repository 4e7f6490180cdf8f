// nftpolicy-agent: enforces Kubernetes NetworkPolicies on this node with nftables.
//
// The cluster state comes from the API server (list + watch; kubeconfig or in-cluster) or,
// in static mode, from manifests on disk. Every change is compiled and applied as the
// difference to what the kernel holds, in one atomic netlink batch. Wiring only: the work
// is done by the libraries (watch/, compiler/, nft/, conntrack/) and the classes of agent/.
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <thread>

#include "agent/api_mode.h"
#include "agent/conntrack_cutter.h"
#include "agent/enforcer.h"
#include "agent/http_endpoints.h"
#include "agent/logging.h"
#include "agent/static_mode.h"
#include "nft/table_monitor.h"
#include "watch/http_transport.h"
#include "watch/kube_config.h"

namespace {

std::atomic<bool> g_stop{false};

// "0x00800000" (hex) or "8388608" (decimal): one bit of the conntrack mark, or 0.
std::optional<std::uint32_t> parse_mark(const std::string& text) {
  const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  const std::string digits = hex ? text.substr(2) : text;
  const char* allowed = hex ? "0123456789abcdefABCDEF" : "0123456789";
  if (digits.empty() || digits.size() > 10 ||
      digits.find_first_not_of(allowed) != std::string::npos) {
    return std::nullopt;
  }
  const unsigned long long value = std::stoull(digits, nullptr, hex ? 16 : 10);
  if (value > 0xffffffffull || (value & (value - 1)) != 0) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

void on_signal(int) {
  g_stop = true;
}

struct Flags {
  std::string node;
  std::string kubeconfig;
  std::string context;
  std::vector<std::string> manifests;
  bool once = false;
  std::string table = "nftpolicy";
  bool judge_node_traffic = false;
  bool no_counters = false;
  int resync_seconds = 300;
  int coalesce_ms = 5;
  double max_sync_rate = 20;
  std::string listen = ":9745";
  bool cleanup_on_exit = false;
  bool no_conntrack_cleanup = false;
  bool no_table_monitor = false;
  int cut_interval_ms = 250;
  int http_threads = 1;
  std::string quarantine_mark = "0x00800000";
  std::string log_level = "info";
  std::string log_format = "text";
  int verbosity = 0;
};

int run_api(const Flags& f, agent::Enforcer& enforcer, agent::Registry& registry,
            agent::Health& health, const std::shared_ptr<spdlog::logger>& log) {
  auto config = watch::resolve_config(f.kubeconfig, f.context, watch::process_environment());
  if (!config) {
    log->error("{}", config.error().to_string());
    return 2;
  }
  auto transport = watch::HttpTransport::create(config.value());
  if (!transport) {
    log->error("{}", transport.error().to_string());
    return 2;
  }
  log->info("API server {} ({})", config.value().server, config.value().source);
  agent::ApiMode mode(enforcer, *transport.value(),
                      {.coalesce = std::chrono::milliseconds(f.coalesce_ms),
                       .max_sync_rate = f.max_sync_rate,
                       .resync = std::chrono::seconds(f.resync_seconds),
                       .once = f.once},
                      log, &registry);
  health.describe = [&mode] {
    const auto s = mode.store().stats();
    return "synced=" + std::string(mode.synced() ? "true" : "false") +
           " pods=" + std::to_string(s.pods) + " policies=" + std::to_string(s.policies) +
           " namespaces=" + std::to_string(s.namespaces) + "\n";
  };
  const int rc = mode.run(g_stop, &health);
  health.describe = nullptr;
  return rc;
}

int run(const Flags& f) {
  // Before any HTTP client or listener exists. Only I/O runs there (the watch streams, the
  // endpoints): every extra thread only adds wake-ups and context switches (CPU under pod
  // churn, P6: 0.094 cores with cpprestsdk's default 40, 0.042 with 1).
  watch::set_http_threads(static_cast<std::size_t>(f.http_threads));
  agent::setup_logging(f.log_format, f.log_level, f.verbosity);
  auto log = spdlog::get("agent");
  auto opened = nft::KernelNetlink::open();
  if (!opened.is_ok()) {
    log->error("cannot open the nf_tables netlink socket: {} (the agent needs CAP_NET_ADMIN)",
               opened.error().to_string());
    return 1;
  }
  auto nl = std::move(opened).value();
  agent::Registry registry;
  agent::AgentMetrics metrics(registry);
  std::unique_ptr<agent::ConntrackCutter> cutter;
  const std::uint32_t quarantine_mark = parse_mark(f.quarantine_mark).value_or(0);
  if (!f.no_conntrack_cleanup) {
    auto c = agent::ConntrackCutter::open(quarantine_mark);
    if (c) {
      cutter = std::move(c).value();
    } else {
      log->warn(
          "conntrack netlink unavailable ({}): established connections a change denies "
          "will not be cut",
          c.error().to_string());
    }
  }
  agent::Enforcer enforcer(*nl,
                           {.node = f.node,
                            .compile = {.table = f.table,
                                        .allow_node_traffic = !f.judge_node_traffic,
                                        // Without a cutter nothing would release marked
                                        // entries (an earlier run's): no quarantine rule.
                                        .quarantine_mark = cutter ? quarantine_mark : 0,
                                        .counters = !f.no_counters},
                            .cut_interval = std::chrono::milliseconds(f.cut_interval_ms)},
                           log, &metrics, cutter.get());
  // Edits of our table by anyone else are seen as they happen and repaired at once (the
  // periodic read-back stays as a safety net).
  std::thread monitor;
  if (!f.once && !f.no_table_monitor) {
    auto m = nft::TableMonitor::open(f.table);
    if (m) {
      monitor = std::thread([m = std::move(m).value(), &enforcer, &nl = *nl, log, table = f.table] {
        while (!g_stop) {
          if (m->wait(std::chrono::milliseconds(200), nl.portid())) {
            log->warn("table inet {} changed by another process; reading it back", table);
            enforcer.note_tampering();
          }
        }
      });
    } else {
      log->warn("cannot watch table changes ({}); drift is repaired at each resync only",
                m.error().to_string());
    }
  }
  struct JoinOnExit {
    std::thread& t;
    ~JoinOnExit() {
      g_stop = true;
      if (t.joinable()) t.join();
    }
  } join_monitor{monitor};
  agent::Health health;
  health.ready = [&enforcer] { return enforcer.enforced(); };
  health.beat();
  std::optional<agent::HttpEndpoints> endpoints;
  if (!f.once && !f.listen.empty()) {
    endpoints.emplace(f.listen, registry, health);
    if (!endpoints->ok()) {
      log->error("{}", endpoints->error());
      return 2;
    }
    log->info("serving /metrics, /healthz and /readyz on {}", endpoints->url());
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  const int rc = f.manifests.empty()
                     ? run_api(f, enforcer, registry, health, log)
                     : agent::run_static_mode(enforcer,
                                              {.manifests = f.manifests,
                                               .once = f.once,
                                               .resync = std::chrono::seconds(f.resync_seconds)},
                                              g_stop, *log, health);
  if (f.cleanup_on_exit) {
    enforcer.remove_table();
  } else if (!f.once) {
    log->info("stopping; the rules stay in place until the next agent takes over");
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "nftpolicy-agent: enforces Kubernetes NetworkPolicies (networking.k8s.io/v1) on this node "
      "with nftables (table inet nftpolicy), applied over netlink as atomic, incremental "
      "batches. The cluster comes from the API server (--kubeconfig, $KUBECONFIG, or the pod's "
      "service account), or from manifests on disk (--manifests).\n"};
  Flags f;
  if (const char* env = std::getenv("NODE_NAME")) f.node = env;
  app.add_option("--node", f.node, "This node's name (spec.nodeName of its pods; env NODE_NAME)");
  app.add_option("--kubeconfig", f.kubeconfig,
                 "kubeconfig file (default: $KUBECONFIG, else in-cluster, else ~/.kube/config)");
  app.add_option("--context", f.context, "kubeconfig context (default: current-context)");
  app.add_option("--manifests", f.manifests,
                 "Static mode: YAML/JSON files or directories (recursive), as `kubectl get "
                 "ns,pods,netpol -A -o yaml` prints them, instead of the API server; repeatable")
      ->expected(1, -1);
  app.add_flag("--once", f.once,
               "Apply once and exit: 0 when enforced, 1 on any failure (the previous rules "
               "stay untouched)");
  app.add_option("--table", f.table, "Name of the inet table the agent owns")
      ->capture_default_str();
  app.add_flag("--judge-node-traffic", f.judge_node_traffic,
               "Apply ingress policies to connections from this node too (default: the node, "
               "e.g. kubelet probes, reaches its pods)");
  app.add_flag("--no-counters", f.no_counters, "No counters on drop rules");
  app.add_option("--resync-interval", f.resync_seconds,
                 "Seconds between read-back-and-repair rounds (0: never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--coalesce-window", f.coalesce_ms,
                 "Milliseconds during which a burst of API events joins one sync")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  app.add_option("--max-sync-rate", f.max_sync_rate,
                 "Under sustained churn, at most this many syncs per second (bursts of 5 go at "
                 "once); more events share syncs. 0: no limit")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--listen-address", f.listen,
                 "HOST:PORT or :PORT for /metrics, /healthz and /readyz (empty: none)")
      ->capture_default_str();
  app.add_flag("--no-conntrack-cleanup", f.no_conntrack_cleanup,
               "Leave established connections alone (default: after each change, delete the "
               "conntrack entries of connections the new rules deny, and of IPs that left this "
               "node's pods)");
  app.add_option("--conntrack-cut-interval", f.cut_interval_ms,
                 "Milliseconds between two conntrack cleanups at most (each walks the kernel's "
                 "whole conntrack hash); changes in between share one")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  app.add_flag("--no-table-monitor", f.no_table_monitor,
               "Do not listen to nf_tables notifications: edits of the table by others are then "
               "repaired at the next --resync-interval only");
  app.add_option("--conntrack-quarantine-mark", f.quarantine_mark,
                 "Conntrack mark bit (hex or decimal) of revoked connections of protocols other "
                 "than TCP: instead of deleting their entries (a UDP answer in flight would "
                 "open the flow again the other way), the agent sets this bit on them and the "
                 "first rule of each base chain drops their packets; cleared when a change "
                 "allows them again. The ct mark, not the packet mark kube-proxy and flannel "
                 "use (0x4000, 0x8000): pick a bit no other component sets on conntrack "
                 "entries. 0: delete them like TCP ones")
      ->check([](const std::string& v) {
        return parse_mark(v) ? std::string() : std::string("a single bit, or 0");
      })
      ->capture_default_str();
  app.add_option("--http-threads", f.http_threads,
                 "Threads of the HTTP client (watch streams) and of the endpoints; our own "
                 "threads do the work, these only move bytes")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_flag("--cleanup-on-exit", f.cleanup_on_exit,
               "Delete the table when stopping (default: SIGTERM leaves the rules in place, so "
               "the node stays protected through an upgrade)");
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--log-format", f.log_format, "text or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("-v,--v", f.verbosity, "Verbosity: 1 debug, 2 trace")->check(CLI::Range(0, 10));
  app.footer("Exit codes: 0 ok; 1 the rules could not be applied; 2 usage or configuration error.");
  try {
    app.parse(argc, argv);
    if (f.node.empty()) throw CLI::RequiredError("--node");
    if (!f.manifests.empty() && (!f.kubeconfig.empty() || !f.context.empty())) {
      throw CLI::ValidationError("--manifests", "static mode takes no --kubeconfig/--context");
    }
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return run(f);
}
