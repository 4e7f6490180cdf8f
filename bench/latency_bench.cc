// latency-bench: enforcement latency end to end — from ONE write to the API server to the
// change in the kernel, and to a probe seeing it — with the real agent against the
// kube-apiserver stand-in (e2e/apiserver), at 1k and 10k pods. Prints figures next to the
// targets P1–P4, P6 and P7 of PERFORMANCE.md; asserts nothing about time.
//
//   nftpolicy-latency-bench [--scale 1000/100 --scale 10000/1000] [--changes 100]
//       [--coalesce-window 5 --coalesce-window 0] [--events-per-second 100] [--cpu-seconds 20]
//       [--kind policy|relabel|pod]... [--agent-arg ARG]... [--quick] [--agent PATH]
//       [--standin PATH] [--work-dir DIR]
//
// Per scale, in a network namespace made for it ("the node", node-0 of the synthetic cluster
// of synthetic_cluster.h, 100 pods on it), deleted at the end, also on failure and SIGINT:
//  1. the stand-in runs there; the cluster is stored into it as given (status included) with
//     pipelined `store_raw` requests (timed, not counted);
//  2. the agent starts (--node node-0 --kubeconfig ...): cold start = exec -> the agent's
//     first "sync ... result=ok" line, which it writes right after the batch's last ACK (the
//     nf_tables monitor is closed then: a listener makes the kernel build one notification
//     per object, which would slow a full apply); the table is read back and compared with
//     the program compile() gives for the bench's own model of the cluster;
//  3. RSS after the first sync, after the changes, after the churn;
//  4. per kind of change (policy created/deleted, pod of the node relabelled and back, pod
//     added/deleted on another node) N changes, each ONE write on a warm keep-alive
//     connection, spaced so that each is applied alone: t0 right before the write; t1 when the
//     first nf_tables notification of the batch that completes the expected change arrives
//     (every element, chain and set the compiler's diff says must change, checked in the
//     notifications); t2 the send time of the first probe of the final run of the new
//     verdict (a TCP connect every 0.5 ms between two pods wired by veth into the node, when
//     the change flips a connection); the agent's own figures from its sync line;
//  5. CPU under pod churn on other nodes (adds, deletes, relabels, and status/annotation
//     updates enforcement ignores) at --events-per-second: Δ(utime+stime) over wall time, for
//     the agent and, not counted, the stand-in;
// then again with the next --coalesce-window (agent restarted: the restart figure reads the
// table back). Needs root, ip(8) and python3; exit 77 without them (ctest: skipped); 1 if a
// change was not observed; 2 on usage errors.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "compiler/compiler.h"
#include "latency_changes.h"
#include "latency_churn.h"
#include "latency_http.h"
#include "latency_nft_monitor.h"
#include "latency_probe.h"
#include "latency_procs.h"
#include "latency_report.h"
#include "nft/canonical.h"
#include "nft/diff.h"
#include "nft/kernel_netlink.h"
#include "synthetic_cluster.h"

#ifndef NFTPOLICY_AGENT_PATH
#define NFTPOLICY_AGENT_PATH ""
#endif
#ifndef NFTPOLICY_STANDIN_PATH
#define NFTPOLICY_STANDIN_PATH ""
#endif

namespace {

using namespace bench;
constexpr const char* kNode = "node-0";

struct Flags {
  std::string agent = NFTPOLICY_AGENT_PATH;
  std::string standin = NFTPOLICY_STANDIN_PATH;
  std::string python;
  std::vector<std::string> scales;
  std::vector<int> windows;
  std::vector<std::string> kinds;
  std::vector<std::string> agent_args;
  int changes = 100;
  int events_per_second = 100;
  double cpu_seconds = 20;
  int spacing_ms = 50;
  bool quick = false;
  std::string work_dir;
};

struct Scale {
  int pods = 0, policies = 0;
};

// Everything one scale needs; torn down in reverse order (agent, stand-in, namespace).
struct Context {
  const Flags& flags;
  Scale scale;
  std::string dir;
  std::unique_ptr<Netns> node;
  std::unique_ptr<Child> standin;
  std::string url;
  std::unique_ptr<HttpConnection> api;
  policy::Cluster model;
  nft::Program program;
  compiler::Options options;
  Report& report;
  int unobserved = 0;
};

class Agent {
 public:
  Agent(const Context& ctx, int window) : window_(window), port_(free_local_port()) {
    std::vector<std::string> argv{ctx.flags.agent,
                                  "--node",
                                  kNode,
                                  "--kubeconfig",
                                  ctx.dir + "/kubeconfig",
                                  "--listen-address",
                                  "127.0.0.1:" + std::to_string(port_),
                                  "--coalesce-window",
                                  std::to_string(window)};
    argv.insert(argv.end(), ctx.flags.agent_args.begin(), ctx.flags.agent_args.end());
    child_ = std::make_unique<Child>(argv, false, true);
    log_ = std::make_unique<AgentLog>(child_->stderr_fd(),
                                      ctx.dir + "/agent-window-" + std::to_string(window) + ".log");
  }
  ~Agent() {
    child_->stop();
    log_.reset();
  }
  pid_t pid() const { return child_->pid(); }
  Clock::time_point started() const { return child_->started(); }
  AgentLog& log() { return *log_; }
  int window() const { return window_; }
  // nftpolicy_synced_resource_version{resource="pods"} from /metrics (-1 if unreadable).
  double synced_pods_rv() {
    try {
      HttpConnection m("127.0.0.1:" + std::to_string(port_));
      const auto r = m.request("GET", "/metrics");
      const std::string key = "nftpolicy_synced_resource_version{resource=\"pods\"} ";
      const auto at = r.body.find(key);
      return at == std::string::npos ? -1 : std::strtod(r.body.c_str() + at + key.size(), nullptr);
    } catch (const std::exception&) {
      return -1;
    }
  }

 private:
  int window_;
  int port_;
  std::unique_ptr<Child> child_;
  std::unique_ptr<AgentLog> log_;
};

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

std::string fmt(const char* f, double v) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// --- setup

void start_standin(Context& ctx) {
  ctx.standin = std::make_unique<Child>(
      std::vector<std::string>{ctx.flags.python, ctx.flags.standin, "--dir", ctx.dir, "--listen",
                               "127.0.0.1:0", "--compaction-window", "10000000",
                               "--exit-with-parent"},
      true, false, ctx.dir + "/standin.log");
  const std::string ready = read_first_line(ctx.standin->stdout_fd(), std::chrono::seconds(30));
  if (ready.rfind("ready ", 0) != 0) throw std::runtime_error("stand-in said: " + ready);
  ctx.url = ready.substr(6);
  ctx.api = std::make_unique<HttpConnection>(ctx.url);
}

std::string standin_rv(Context& ctx) {
  const auto r = ctx.api->request("GET", "/_standin/stats");
  return nlohmann::json::parse(r.body).value("resource_version", "?");
}

void seed(Context& ctx) {
  std::vector<std::string> requests;
  for (const auto& [name, ns] : ctx.model.namespaces) {
    if (name.rfind("ns-", 0) == 0)
      requests.push_back(store_raw_request("namespaces", namespace_json(ns)));
  }
  for (const auto& p : ctx.model.pods) requests.push_back(store_raw_request("pods", pod_json(p)));
  for (const auto& np : ctx.model.policies) {
    requests.push_back(store_raw_request("networkpolicies", policy_json(np)));
  }
  const auto t = Clock::now();
  const auto failed = pipeline(*ctx.api, requests);
  const double took = ms(Clock::now() - t);
  if (failed) throw std::runtime_error("seeding: " + std::to_string(failed) + " writes refused");
  ctx.report.note("seeded " + std::to_string(requests.size()) + " objects in " +
                  fmt("%.0f ms", took) +
                  fmt(" (%.0f/s, not counted); stand-in at resourceVersion ",
                      1000.0 * static_cast<double>(requests.size()) / took) +
                  standin_rv(ctx));
}

// The table read back and compared with the model's program (P5's work, for correctness).
bool kernel_matches(Context& ctx, const std::string& when) {
  auto nl = nft::KernelNetlink::open();
  if (!nl.is_ok()) throw std::runtime_error("netlink: " + nl.error().to_string());
  const auto t = Clock::now();
  auto dumped = nl.value()->dump(ctx.options.table);
  const auto want = nft::canonical(ctx.program);
  const auto tx = dumped.is_ok() ? nft::diff(dumped.value(), want) : nft::Transaction{};
  const double took = ms(Clock::now() - t);
  const bool same = dumped.is_ok() && tx.empty();
  ctx.report.row("kernel table == compile(model), " + when,
                 same             ? "yes"
                 : dumped.is_ok() ? "NO: " + std::to_string(tx.size()) + " ops apart"
                                  : "NO: " + dumped.error().to_string(),
                 "", std::nullopt);
  ctx.report.row("  read back + diff by the bench (P5's work)", fmt("%.1f ms", took), "<= 300 ms",
                 took / 300);
  return same;
}

void memory_row(Context& ctx, Agent& agent, const std::string& when) {
  const auto m = proc_memory(agent.pid());
  const double pods = ctx.scale.pods;
  const double over = (static_cast<double>(m.rss_kb) - 30 * 1024) / pods;
  ctx.report.row("P7 agent RSS " + when,
                 fmt("%.1f MB", static_cast<double>(m.rss_kb) / 1024) +
                     (over > 0 ? fmt(" = 30 MB + %.2f KB/pod", over) : " (under 30 MB)") +
                     fmt(" (%.2f KB/pod in all", static_cast<double>(m.rss_kb) / pods) +
                     fmt("; HWM %.1f MB)", static_cast<double>(m.hwm_kb) / 1024),
                 "<= 30 MB + 1 KB/pod", std::max(over, 0.0) / 1.0);
}

// --- start-up

bool first_sync(Context& ctx, Agent& agent, bool cold) {
  const auto line = agent.log().next_sync(agent.started() + std::chrono::minutes(5));
  if (!line || line->fields.count("result") == 0 || line->fields.at("result") != "ok") {
    ctx.report.row(cold ? "P4 cold start" : "restart", "NO SYNC", "", std::nullopt);
    return false;
  }
  const double total = ms(line->at - agent.started());
  const auto listed = agent.log().listed();
  const std::string detail =
      (listed ? fmt(" (exec -> first list complete %.1f ms", ms(*listed - agent.started()))
              : " (") +
      fmt("; first sync %.1f ms: ", line->number("total_ms")) +
      fmt("plan %.1f, ", line->number("plan_ms")) +
      fmt("apply %.1f ms, ", line->number("apply_ms")) +
      fmt("%.0f messages", line->number("messages")) + (cold ? "" : ", read back first") + ")";
  if (cold) {
    ctx.report.row("P4 cold start: agent exec -> first sync's last ACK", fmt("%.1f ms", total),
                   "<= 1000 ms", total / 1000);
  } else {
    ctx.report.row("restart (table present): exec -> first sync", fmt("%.1f ms", total), "",
                   std::nullopt);
  }
  ctx.report.note("  " + std::string(cold ? "cold start" : "restart") + detail);
  agent.log().clear();
  return true;
}

// --- the change series

struct StepFigures {
  Samples kernel, probe, agent, conntrack, compile, plan, apply, rest, answer, before_agent,
      messages, notifications;
  int unobserved = 0, probe_unobserved = 0, probe_early = 0, extra_syncs = 0;
};

// The first notification of the batch that completes the expected change (nothing after
// 10 s: not observed).
std::optional<Clock::time_point> wait_kernel(NftMonitor& monitor, const Expectation& expect,
                                             Clock::time_point t0, NftBatch& seen) {
  while (auto b = monitor.next(t0 + std::chrono::seconds(10))) {
    check_interrupted();
    merge(seen, *b);
    if (expect.met_by(seen)) return b->first;
  }
  return std::nullopt;
}

// The agent's sync line for the change: the first one that changed something.
std::optional<LogLine> wait_sync_line(AgentLog& log, std::optional<Clock::time_point> t1,
                                      int& extra_syncs) {
  const auto deadline = t1 ? *t1 + std::chrono::seconds(5) : Clock::now();
  while (auto l = log.next_sync(deadline)) {
    if (l->number("ops", 0) > 0) return l;
    ++extra_syncs;  // a sync that changed nothing
  }
  return std::nullopt;
}

void probe_outcome(Prober& prober, const ChangeStep& step, Clock::time_point t0,
                   std::optional<Clock::time_point> t1, StepFigures& f) {
  prober.wait_settled(step.allowed_after, 3, t1.value_or(t0) + std::chrono::seconds(2));
  const auto probes = prober.disarm();
  const auto t2 = Prober::verdict_since(probes, step.allowed_after);
  for (const auto& p : probes) {
    f.probe_early += p.done && p.sent < t0 && p.allowed == step.allowed_after;
  }
  if (t2 && *t2 >= t0) {
    f.probe.add(ms(*t2 - t0));
    return;
  }
  ++f.probe_unobserved;
  // What the probe saw, for the log: A allowed, B blocked, . not settled; | marks t0 and t1.
  std::string seq;
  bool at_t0 = false, at_t1 = false;
  for (const auto& p : probes) {
    if (!at_t0 && p.sent >= t0) seq += '|', at_t0 = true;
    if (t1 && !at_t1 && p.sent >= *t1) seq += '|', at_t1 = true;
    seq += !p.done ? '.' : p.allowed ? 'A' : 'B';
  }
  std::fprintf(stderr, "  %s: the probe never settled on %s (t1-t0 %.2f ms): %s\n",
               step.name.c_str(), step.allowed_after ? "allowed" : "blocked",
               t1 ? ms(*t1 - t0) : -1.0, seq.substr(0, 400).c_str());
}

void record_agent(const LogLine& line, double write_to_kernel, StepFigures& f) {
  // The agent's share ends at the batch's last ACK (ack_ms: from the first change of the
  // round, coalescing window included); its conntrack cleanup comes after.
  const double conntrack = line.number("conntrack_ms", 0);
  const double to_ack = line.number("ack_ms", line.number("total_ms") - conntrack);
  f.agent.add(to_ack);
  f.conntrack.add(conntrack);
  f.plan.add(line.number("plan_ms"));
  f.apply.add(line.number("apply_ms"));
  f.compile.add(line.number("compile_ms", 0));
  // What is left: the coalescing window (when the change came right after another sync),
  // reading the store, waking up.
  f.rest.add(to_ack - line.number("compile_ms", 0) - line.number("plan_ms") -
             line.number("apply_ms"));
  f.before_agent.add(write_to_kernel - to_ack);
  f.messages.add(line.number("messages"));
}

// One change: ONE write at t0, then the kernel (t1), the agent's line and the probe (t2).
void measure(Context& ctx, Agent& agent, NftMonitor& monitor, Prober* prober,
             const ChangeStep& step, StepFigures& f) {
  monitor.clear();
  agent.log().clear();
  if (prober) {
    prober->arm();
    sleep_until(Clock::now() + std::chrono::milliseconds(3));  // the old verdict, seen
  }
  const auto t0 = Clock::now();
  ctx.api->write(step.request);
  const auto answer = ctx.api->read_response();
  f.answer.add(ms(Clock::now() - t0));
  if (answer.status / 100 != 2) {
    throw std::runtime_error(step.name + ": the API answered " + std::to_string(answer.status) +
                             " " + answer.body.substr(0, 300));
  }
  NftBatch seen;
  const auto t1 = wait_kernel(monitor, step.expect, t0, seen);
  const auto line = wait_sync_line(agent.log(), t1, f.extra_syncs);
  if (prober) probe_outcome(*prober, step, t0, t1, f);
  if (!t1) {
    ++f.unobserved;
    return;
  }
  f.kernel.add(ms(*t1 - t0));
  f.notifications.add(static_cast<double>(seen.messages));
  if (line) record_agent(*line, ms(*t1 - t0), f);
}

struct StepTarget {
  const char* kernel = nullptr;  // e.g. "P2"
  double kernel50 = 0, kernel99 = 0;
  const char* agent = nullptr;
  double agent50 = 0, agent99 = 0;
};

StepTarget target_of(const std::string& step) {
  if (step == "policy created") return {"P2", 25, 100, "P1", 5, 25};
  if (step == "policy deleted") return {nullptr, 0, 0, "P1", 5, 25};
  if (step == "pod added (other node)") return {nullptr, 0, 0, "P3", 0, 5};
  return {};
}

void pair_row(Report& report, const std::string& figure, Samples& s, const char* target, double t50,
              double t99) {
  if (s.empty()) {
    report.row(figure, "no samples", "", std::nullopt);
    return;
  }
  const std::string value = fmt("p50 %.2f", s.p(0.5)) + fmt(" / p99 %.2f ms", s.p(0.99));
  if (!target) {
    report.row(figure, value, "", std::nullopt);
    return;
  }
  std::string t = std::string(target) + ":";
  double ratio = 0;
  if (t50 > 0) {
    t += fmt(" p50 <= %.0f", t50);
    ratio = s.p(0.5) / t50;
  }
  t += fmt(" p99 <= %.0f ms", t99);
  ratio = std::max(ratio, s.p(0.99) / t99);
  report.row(figure, value, t, ratio);
}

void report_step(Context& ctx, const ChangeStep& step, StepFigures& f, bool probed) {
  auto& r = ctx.report;
  const auto t = target_of(step.name);
  pair_row(r, step.name + ": API write -> in kernel", f.kernel, t.kernel, t.kernel50, t.kernel99);
  pair_row(r, step.name + ": agent event -> last ACK (+ scope)", f.agent, t.agent, t.agent50,
           t.agent99);
  pair_row(r, step.name + ": agent conntrack revoke (conntrack_ms)", f.conntrack, nullptr, 0, 0);
  if (probed) {
    pair_row(r, step.name + ": API write -> probe sees it", f.probe,
             step.name == "policy created" ? "P2" : nullptr, 25, 100);
  }
  std::string missed;
  if (f.unobserved) missed += std::to_string(f.unobserved) + " never seen in the kernel; ";
  if (probed && f.probe_unobserved) {
    missed += std::to_string(f.probe_unobserved) + " verdicts never seen by the probe; ";
  }
  if (f.probe_early) missed += std::to_string(f.probe_early) + " probes had it before t0; ";
  if (!missed.empty()) r.row("  " + step.name + ": MISSED", missed, "", std::nullopt);
  ctx.unobserved += f.unobserved + (probed ? f.probe_unobserved : 0);
  if (f.kernel.empty() || f.agent.empty()) return;
  r.note("    medians: write -> kernel " + fmt("%.2f ms", f.kernel.p(0.5)) +
         fmt(" = write -> agent loop (by difference) %.2f", f.before_agent.p(0.5)) +
         fmt(" (the stand-in answers the write in %.2f; ", f.answer.p(0.5)) +
         "then watch event, decode, store) + agent " + fmt("%.2f", f.agent.p(0.5)) +
         fmt(" [compile or patch %.2f", f.compile.p(0.5)) + fmt(" + plan %.2f", f.plan.p(0.5)) +
         fmt(" + apply %.2f", f.apply.p(0.5)) +
         fmt(" + the rest (window when not idle, wake-up) %.2f]", f.rest.p(0.5)) +
         fmt("; then conntrack revoke %.2f ms", f.conntrack.p(0.5)) +
         fmt("; %.0f netlink messages", f.messages.p(0.5)) +
         fmt(", %.0f notifications", f.notifications.p(0.5)) +
         (f.extra_syncs ? "; " + std::to_string(f.extra_syncs) + " extra syncs" : ""));
}

std::string describe(const Expectation& e) {
  return std::to_string(e.ops) + " ops (" + std::to_string(e.element_ops) + " elements, " +
         std::to_string(e.chains_added.size()) + "+" + std::to_string(e.chains_deleted.size()) +
         " chains added+deleted, " + std::to_string(e.rules_added) + " rules)";
}

// The probe pair must show the verdict before the first change, or it measures nothing.
bool probe_ready(Prober& prober, bool allowed) {
  prober.arm();
  const bool ok = prober.wait_settled(allowed, 5, Clock::now() + std::chrono::seconds(2));
  prober.disarm();
  return ok;
}

void run_series(Context& ctx, Agent& agent, NftMonitor& monitor, const Series& s, int index) {
  ctx.report.note("  " + s.kind + ": " + s.what + "; forward " + describe(s.forward.expect) +
                  ", back " + describe(s.back.expect));
  ctx.report.note(
      fmt("    redone by the bench on the same programs: compile %.2f ms", s.cost.compile_ms) +
      fmt(", diff %.2f ms", s.cost.diff_ms) +
      fmt(", conntrack scope_of_change %.2f ms (after the ACK, not in conntrack_ms)",
          s.cost.scope_ms));
  std::unique_ptr<PodNet> client, server;
  std::unique_ptr<Prober> prober;
  if (s.probe) {
    client = std::make_unique<PodNet>(ctx.node->name(), ctx.node->name() + "-c", s.probe->client_ip,
                                      2 * index + 1);
    server = std::make_unique<PodNet>(ctx.node->name(), ctx.node->name() + "-s", s.probe->server_ip,
                                      2 * index + 2);
    prober = std::make_unique<Prober>(client->netns(), server->netns(), s.probe->server_ip, 8080);
    ctx.report.note("    probe: " + s.probe->client + " (" + s.probe->client_ip.str() + ") -> " +
                    s.probe->server + " (" + s.probe->server_ip.str() + "):8080, " +
                    (s.forward.allowed_after ? "denied then allowed" : "allowed then denied"));
    if (!probe_ready(*prober, !s.forward.allowed_after)) {
      ctx.report.row("  probe before the first change", "WRONG VERDICT (probe dropped)", "",
                     std::nullopt);
      ++ctx.unobserved;
      prober.reset();
    }
  } else {
    ctx.report.note("    no probe: no pair of pods whose connection this change flips");
  }
  StepFigures forward, back;
  const auto spacing = std::chrono::milliseconds(ctx.flags.spacing_ms);
  for (int i = 0; i < ctx.flags.changes; ++i) {
    auto t = Clock::now();
    measure(ctx, agent, monitor, prober.get(), s.forward, forward);
    sleep_until(t + spacing);
    t = Clock::now();
    measure(ctx, agent, monitor, prober.get(), s.back, back);
    sleep_until(t + spacing);
  }
  report_step(ctx, s.forward, forward, prober != nullptr);
  report_step(ctx, s.back, back, prober != nullptr);
}

// --- CPU under pod churn

void wait_caught_up(Context& ctx, Agent& agent) {
  const double rv = std::strtod(standin_rv(ctx).c_str(), nullptr);
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (agent.synced_pods_rv() < rv && Clock::now() < deadline) {
    sleep_until(Clock::now() + std::chrono::milliseconds(20));
  }
}

// The agent's CPU with nothing to do (its loop, the watches' bookmarks), in cores.
double idle_cores(pid_t agent, double seconds) {
  const auto t = Clock::now();
  const auto before = proc_cpu(agent);
  sleep_until(t + std::chrono::milliseconds(static_cast<int>(seconds * 1000)));
  return (proc_cpu(agent).seconds - before.seconds) / (ms(Clock::now() - t) / 1000);
}

void churn(Context& ctx, Agent& agent) {
  const auto& f = ctx.flags;
  const double idle = idle_cores(agent.pid(), std::min(2.0, f.cpu_seconds));

  PodChurn c(ctx.model, kNode, ctx.scale.pods + 1000);
  const int events = static_cast<int>(f.events_per_second * f.cpu_seconds);
  const auto interval = std::chrono::nanoseconds(1'000'000'000LL / f.events_per_second);
  agent.log().clear();
  const auto a0 = proc_cpu(agent.pid()), s0 = proc_cpu(ctx.standin->pid()),
             b0 = proc_cpu(::getpid());
  const auto t0 = Clock::now();
  int refused = 0;
  for (int i = 0; i < events; ++i) {
    sleep_until(t0 + interval * i);
    if (ctx.api->exchange(c.next_write(i)).status / 100 != 2) ++refused;
  }
  const auto t1 = Clock::now();
  const double wall = ms(t1 - t0) / 1000;
  const auto a1 = proc_cpu(agent.pid()), s1 = proc_cpu(ctx.standin->pid()),
             b1 = proc_cpu(::getpid());
  Samples sync_ms;
  while (auto l = agent.log().next_sync(Clock::now())) sync_ms.add(l->number("total_ms"));
  const double agent_cores = (a1.seconds - a0.seconds) / wall;
  ctx.report.row(
      "P6 agent CPU, " + std::to_string(f.events_per_second) + " pod events/s on other nodes",
      fmt("%.3f cores", agent_cores) + fmt(" (idle %.3f)", idle), "<= 0.05 core",
      agent_cores / 0.05);
  std::string mix;
  for (const auto& [k, n] : c.mix()) mix += " " + k + "=" + std::to_string(n);
  ctx.report.note(fmt("    %.1f s, ", wall) + std::to_string(events) + " writes (" + mix.substr(1) +
                  (refused ? ", " + std::to_string(refused) + " refused" : "") + "); " +
                  std::to_string(sync_ms.size()) + " syncs" +
                  (sync_ms.empty() ? ""
                                   : fmt(", total_ms p50 %.2f", sync_ms.p(0.5)) +
                                         fmt(" p99 %.2f", sync_ms.p(0.99))) +
                  fmt("; not counted: stand-in %.3f cores", (s1.seconds - s0.seconds) / wall) +
                  fmt(", bench %.3f cores", (b1.seconds - b0.seconds) / wall));
  if (pipeline(*ctx.api, c.undo())) throw std::runtime_error("churn: undoing it failed");
  wait_caught_up(ctx, agent);
}

// --- one agent run (one coalescing window)

void run_window(Context& ctx, int window, bool cold) {
  ctx.report.section(std::to_string(ctx.scale.pods) + " pods, " +
                     std::to_string(ctx.scale.policies) + " policies; node " + kNode +
                     "; agent --coalesce-window " + std::to_string(window));
  Agent agent(ctx, window);
  if (!first_sync(ctx, agent, cold)) {
    ++ctx.unobserved;
    return;
  }
  memory_row(ctx, agent, "after the first sync");
  if (!kernel_matches(ctx, "after the first sync")) ++ctx.unobserved;
  ctx.report.print();
  {
    NftMonitor monitor;
    int index = 0;
    for (const auto& s : plan_series(ctx.model, ctx.program, kNode, ctx.options)) {
      if (!ctx.flags.kinds.empty() && std::find(ctx.flags.kinds.begin(), ctx.flags.kinds.end(),
                                                s.kind) == ctx.flags.kinds.end()) {
        continue;
      }
      run_series(ctx, agent, monitor, s, index++);
      ctx.report.print();
    }
    if (monitor.overruns()) {
      ctx.report.note("    (the monitor's buffer overflowed " + std::to_string(monitor.overruns()) +
                      " times)");
    }
  }
  memory_row(ctx, agent, "after the changes");
  ctx.report.print();
  churn(ctx, agent);
  memory_row(ctx, agent, "after the churn");
  if (!kernel_matches(ctx, "after the churn (undone)")) ++ctx.unobserved;
  if (agent.log().errors()) {
    ctx.report.row("agent errors in its log", std::to_string(agent.log().errors()), "",
                   std::nullopt);
  }
  ctx.report.print();
}

int run_scale(const Flags& flags, Scale scale, const std::string& dir, Report& report) {
  Context ctx{.flags = flags, .scale = scale, .dir = dir, .report = report};
  std::filesystem::create_directories(dir);
  ctx.model = synthetic_cluster(scale.pods, scale.policies);
  add_system_namespaces(ctx.model);
  ctx.model.finalize();
  ctx.program = compiler::compile(ctx.model, kNode, ctx.options).program;
  ctx.node = std::make_unique<Netns>("npl-" + std::to_string(::getpid()) + "-" +
                                     std::to_string(scale.pods));
  enable_forwarding(ctx.node->name());
  ctx.node->enter();  // the stand-in, the agent, the monitor and our HTTP all live there
  try {
    report.section(std::to_string(scale.pods) + " pods, " + std::to_string(scale.policies) +
                   " policies: network namespace " + ctx.node->name() + ", files in " + dir);
    start_standin(ctx);
    seed(ctx);
    report.print();
    bool cold = true;
    for (int w : flags.windows) {
      run_window(ctx, w, cold);
      cold = false;
    }
  } catch (...) {
    ctx.api.reset();
    ctx.standin.reset();
    ctx.node->leave();
    throw;
  }
  ctx.api.reset();
  ctx.standin.reset();
  ctx.node->leave();
  return ctx.unobserved;
}

// The machine is shared: the load average goes with the figures.
std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one, five, fifteen;
  f >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

std::string find_python() {
  std::FILE* p = ::popen("python3 -c 'import sys; print(sys.executable)' 2>/dev/null", "r");
  if (!p) return "";
  char buf[512] = {};
  const bool ok = std::fgets(buf, sizeof buf, p) != nullptr;
  ::pclose(p);
  std::string s = ok ? buf : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// Flags, with --quick's defaults; exit code 2 on usage errors (-1: parsed).
int parse_flags(int argc, char** argv, Flags& f, std::vector<Scale>& scales) {
  CLI::App app{
      "nftpolicy-latency-bench: enforcement latency end to end (API write -> kernel -> probe) "
      "with the real agent and the kube-apiserver stand-in, cold start, memory and CPU under "
      "pod churn, against PERFORMANCE.md's P1-P4, P6, P7. Root, ip(8) and python3 needed "
      "(exit 77 otherwise); everything runs in network namespaces it creates and deletes.\n"};
  app.add_option("--agent", f.agent, "nftpolicy-agent binary")->capture_default_str();
  app.add_option(
         "--agent-arg", f.agent_args,
         "One more argument for the agent, repeatable (e.g. --agent-arg=--no-conntrack-cleanup)")
      ->allow_extra_args(false);
  app.add_option("--standin", f.standin, "e2e/apiserver/apiserver.py")->capture_default_str();
  app.add_option("--scale", f.scales,
                 "PODS/POLICIES, repeatable (default 1000/100 and 10000/1000)");
  app.add_option("--changes", f.changes, "Changes per kind (each also undone)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--coalesce-window", f.windows,
                 "The agent's --coalesce-window (ms), repeatable: one agent run each (default 5 "
                 "and 0)");
  app.add_option("--kind", f.kinds, "Only these kinds of change: policy, relabel, pod (repeatable)")
      ->check(CLI::IsMember({"policy", "relabel", "pod"}));
  app.add_option("--events-per-second", f.events_per_second, "Pod events per second of the churn")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--cpu-seconds", f.cpu_seconds, "Duration of the churn")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--spacing-ms", f.spacing_ms, "At least this long from one change to the next")
      ->capture_default_str();
  app.add_flag("--quick", f.quick,
               "Smoke run: 200 pods/20 policies, 10 changes, 2 s of churn, window 5 (flags given "
               "explicitly still win)");
  app.add_option("--work-dir", f.work_dir,
                 "Keep the agent's and the stand-in's logs here (default: a temporary directory, "
                 "deleted)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (f.quick) {
    if (f.scales.empty()) f.scales = {"200/20"};
    if (app.count("--changes") == 0) f.changes = 10;
    if (app.count("--cpu-seconds") == 0) f.cpu_seconds = 2;
    if (f.windows.empty()) f.windows = {5};
  }
  if (f.scales.empty()) f.scales = {"1000/100", "10000/1000"};
  if (f.windows.empty()) f.windows = {5, 0};
  for (const auto& s : f.scales) {
    Scale sc;
    if (std::sscanf(s.c_str(), "%d/%d", &sc.pods, &sc.policies) != 2 || sc.pods < 200 ||
        sc.policies < 1) {
      std::fprintf(stderr, "--scale %s: expected PODS/POLICIES with at least 200 pods\n",
                   s.c_str());
      return 2;
    }
    scales.push_back(sc);
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  std::vector<Scale> scales;
  if (const int rc = parse_flags(argc, argv, f, scales); rc >= 0) return rc;
  if (::geteuid() != 0 || std::system("ip -V >/dev/null 2>&1") != 0) {
    std::printf("skipped: needs root and ip(8)\n");
    return 77;
  }
  f.python = find_python();
  if (f.python.empty()) {
    std::printf("skipped: no python3 for the stand-in\n");
    return 77;
  }
  for (const auto& [what, path] : {std::pair{"agent", f.agent}, {"stand-in", f.standin}}) {
    if (path.empty() || !std::filesystem::exists(path)) {
      std::fprintf(stderr, "no %s at '%s'\n", what, path.c_str());
      return 2;
    }
  }
  install_signal_handlers();
  const bool keep = !f.work_dir.empty();
  std::string dir = f.work_dir;
  if (!keep) {
    char tmpl[] = "/tmp/nftpolicy-latency-XXXXXX";
    dir = ::mkdtemp(tmpl) ? tmpl : "/tmp/nftpolicy-latency";
  }
  Report report;
  int unobserved = 0, rc = 0;
  std::printf(
      "nftpolicy-latency-bench: %d changes per kind, spaced >= %d ms; churn %d events/s for "
      "%.0f s; %ld cores, load average %s\n",
      f.changes, f.spacing_ms, f.events_per_second, f.cpu_seconds, ::sysconf(_SC_NPROCESSORS_ONLN),
      load_average().c_str());
  try {
    for (const auto& sc : scales) {
      unobserved += run_scale(f, sc, dir + "/" + std::to_string(sc.pods), report);
    }
    rc = unobserved ? 1 : 0;
  } catch (const Interrupted&) {
    std::fprintf(stderr, "interrupted; cleaned up\n");
    rc = 130;
  } catch (const std::exception& e) {
    report.print();
    std::fprintf(stderr, "error: %s\n", e.what());
    rc = 1;
  }
  report.print();
  std::printf("\nload average at the end %s\n", load_average().c_str());
  if (unobserved) std::printf("\n%d changes or verdicts were not observed\n", unobserved);
  if (keep) {
    std::printf("logs in %s\n", dir.c_str());
  } else {
    std::filesystem::remove_all(dir);
  }
  return rc;
}
