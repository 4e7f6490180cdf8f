#include "flow_scenarios.h"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "flow_protocol.h"
#include "sys.h"

namespace e2e {

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// x/b and x/c accept connections from namespace y only; z/a may connect to namespace y only.
const char* kPolicies = R"([
  {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
   "metadata": {"namespace": "x", "name": "isolate-b-c"},
   "spec": {"podSelector": {"matchExpressions": [{"key": "pod", "operator": "In",
                                                  "values": ["b", "c"]}]},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}},
  {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
   "metadata": {"namespace": "z", "name": "egress-a-to-y"},
   "spec": {"podSelector": {"matchLabels": {"pod": "a"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}}
])";

}  // namespace

nlohmann::json change_policies() {
  return json::parse(kPolicies);
}

namespace {

// Every kind, same node and across nodes, denied by each policy and allowed. The late UDP
// echoes are left out of the restart scenario: what they test is revocation.
std::vector<FlowPlan> change_plan(bool late_echoes) {
  using K = FlowKind;
  std::vector<FlowPlan> plan = {
      // denied by x/isolate-b-c
      {"x/a", "x/c", K::tcp_both, true},
      {"x/a", "x/c", K::tcp_push, true},
      {"x/a", "x/c", K::udp_echo, true},
      {"z/c", "x/b", K::tcp_both, true},
      {"z/c", "x/b", K::tcp_push, true},
      {"z/c", "x/b", K::udp_echo, true},
      // denied by z/egress-a-to-y: the client is isolated, the server pushes
      {"z/a", "x/a", K::tcp_push, true},
      {"z/a", "z/b", K::tcp_push, true},
      {"z/a", "z/b", K::tcp_both, true},
      {"z/a", "z/c", K::udp_echo, true},
      // denied, with a server that answers 30 ms late: an answer is in flight at the cut
      {"x/a", "x/c", K::udp_late, true},
      {"z/a", "z/b", K::udp_late, true},
      // allowed: into the isolated pods from y, out of them, the egress-isolated pod to y,
      // and pods no policy selects
      {"y/a", "x/c", K::tcp_both, false},
      {"y/a", "x/c", K::tcp_push, false},
      {"y/c", "x/c", K::udp_echo, false},
      {"y/b", "x/b", K::tcp_both, false},
      {"y/a", "x/b", K::tcp_push, false},
      {"y/b", "x/c", K::udp_echo, false},
      {"x/c", "z/b", K::tcp_both, false},
      {"z/a", "y/b", K::tcp_both, false},
      {"z/a", "y/c", K::udp_echo, false},
      {"x/a", "z/c", K::tcp_push, false},
      {"y/a", "x/c", K::udp_late, false},
  };
  if (!late_echoes)
    std::erase_if(plan, [](const FlowPlan& p) { return p.kind == FlowKind::udp_late; });
  return plan;
}

// The agent as the kubelet runs a DaemonSet's container: started again after a SIGKILL
// (exit status 137), after 1 s, with the same flags; SIGTERM is passed on. NodeAgents starts
// it with --resync-interval 3600; the supervisor hands the agent `resync` instead.
std::string write_supervisor(const std::string& dir, const std::string& agent, int resync) {
  const std::string path = dir + "/agent-supervisor.sh";
  std::ofstream(path) << "#!/bin/sh\n"
                      << "# nftpolicy-e2e --flows: the agent, started again when killed\n"
                      << "agent='" << agent << "'\n"
                      << "for a do\n"
                      << "  shift\n"
                      << "  [ \"$prev\" = --resync-interval ] && a=" << resync << "\n"
                      << "  set -- \"$@\" \"$a\"\n"
                      << "  prev=$a\n"
                      << "done\n"
                      << "child=\n"
                      << "trap 'kill -TERM $child 2>/dev/null; wait $child; exit $?' TERM INT\n"
                      << "while :; do\n"
                      << "  \"$agent\" \"$@\" &\n"
                      << "  child=$!\n"
                      << "  wait $child\n"
                      << "  rc=$?\n"
                      << "  [ $rc -eq 137 ] || exit $rc\n"
                      << "  echo \"npe2e supervisor: the agent was killed; starting it again in "
                         "1 s\" >&2\n"
                      << "  sleep 1\n"
                      << "done\n";
  chmod(path.c_str(), 0755);
  return path;
}

std::string ms(double secs) {
  return format_ms(secs);
}

std::string plus(double secs) {
  return format_offset(secs);
}

bool sends(FlowKind k) {
  return k != FlowKind::tcp_push;
}

// The first line of `log` after `offset` that holds every one of `parts`.
std::string first_line_after(const std::string& log, std::uintmax_t offset,
                             const std::vector<std::string>& parts) {
  std::ifstream in(log);
  in.seekg(static_cast<std::streamoff>(offset));
  for (std::string line; std::getline(in, line);) {
    if (std::all_of(parts.begin(), parts.end(),
                    [&](const std::string& p) { return line.find(p) != std::string::npos; }))
      return line;
  }
  return "";
}

}  // namespace

FlowScenarios::FlowScenarios(Janitor& janitor, Cluster& cluster,
                             const std::vector<cases::Case>& all, FlowScenarioOptions opt)
    : janitor_(janitor), cluster_(cluster), all_(all), opt_(std::move(opt)) {
  for (const auto& c : all_) {
    if (c.name == "default-deny-ingress") model_ = &c;
  }
  if (!model_) throw std::runtime_error("the flow scenarios need the upstream case files");
}

FlowScenarios::~FlowScenarios() {
  try {
    end();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "npe2e: stopping a flow scenario: %s\n", e.what());
  }
}

int FlowScenarios::run(const std::string& filter) {
  const std::vector<std::pair<std::string, void (FlowScenarios::*)()>> scenarios = {
      {"revocation", &FlowScenarios::revocation}, {"restart", &FlowScenarios::restart},
      {"tampering", &FlowScenarios::tampering},   {"release", &FlowScenarios::release},
      {"pod-reuse", &FlowScenarios::pod_reuse},  // last: it takes a pod away
  };
  size_t ran = 0, passed = 0;
  const auto t_all = FlowClock::now();
  for (const auto& [name, body] : scenarios) {
    if (name.find(filter) == std::string::npos || interrupted()) continue;
    std::printf("FLOWS %s\n", name.c_str());
    std::fflush(stdout);
    const size_t failed_before = failures_.size();
    const auto t0 = FlowClock::now();
    summary_.clear();
    try {
      (this->*body)();
    } catch (const std::exception& e) {
      check(false, name + " aborted", e.what());
    }
    end();
    const bool ok = failures_.size() == failed_before && !interrupted();
    ++ran, passed += ok;
    std::printf("%s  %-11s %s  %.1f s\n\n", ok ? "PASS" : "FAIL", name.c_str(), summary_.c_str(),
                seconds(t0, FlowClock::now()));
    std::fflush(stdout);
  }
  std::printf("%zu flow scenarios: %zu passed, %zu failed; %zu checks, %zu failed; %.1f s\n", ran,
              passed, ran - passed, checks_, failures_.size(), seconds(t_all, FlowClock::now()));
  for (const auto& f : failures_) std::printf("  failed: %s\n", f.c_str());
  if (ran == 0) throw std::runtime_error("no flow scenario matches --filter '" + filter + "'");
  return passed == ran ? 0 : 1;
}

// ---- a scenario's world ----------------------------------------------------------------------

void FlowScenarios::begin(const std::string& name, int resync_seconds) {
  end();
  name_ = name;
  if (!cluster_.matches(*model_) || cluster_changed_) {
    cluster_.create(*model_);
    cluster_changed_ = false;
  }
  // The kernel default, set explicitly: conntrack picks up a TCP connection mid-stream from
  // any packet, in either direction (the trap conntrack/README.md describes).
  // Events for every entry, also those created before `conntrack -E` listens (the default,
  // 2, gives an entry events only if a listener existed when it was created).
  for (const auto& n : cluster_.nodes()) {
    must_run(in_netns(n.netns, {"sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=1",
                                "net.netfilter.nf_conntrack_events=1"}));
  }
  dir_ = opt_.workdir + "/flows-" + name;
  std::filesystem::create_directories(dir_);
  driver_ = std::make_unique<ApiDriver>(
      janitor_, cluster_,
      ApiDriverOptions{.agent = write_supervisor(dir_, opt_.agent, resync_seconds),
                       .standin_script = opt_.standin_script,
                       .kubectl = opt_.kubectl,
                       .workdir = dir_,
                       .verbose = opt_.verbose,
                       .converge_timeout = opt_.converge_timeout});
  driver_->up(*model_);
  for (const auto& n : cluster_.nodes()) {
    ct_.push_back(std::make_unique<ConntrackEvents>(janitor_, n.netns,
                                                    dir_ + "/conntrack-" + n.name + ".log"));
    ct_.back()->start();
  }
  std::this_thread::sleep_for(100ms);  // the listeners subscribe before the flows start
}

void FlowScenarios::end() {
  if (flows_) flows_->stop();
  flows_.reset();
  ct_.clear();
  driver_.reset();  // agents and stand-in stopped, tables deleted, conntrack flushed
}

void FlowScenarios::start_flows(const std::vector<FlowPlan>& plan) {
  plan_ = plan;
  flows_ = std::make_unique<FlowRunner>();
  for (const auto& p : plan_) {
    const PodInfo &from = cluster_.pod(p.from), &to = cluster_.pod(p.to);
    flows_->add({.from = p.from,
                 .to = p.to,
                 .kind = p.kind,
                 .from_netns_fd = from.netns_fd,
                 .dst_ip = to.spec.ips.at(0),
                 .same_node = from.spec.node == to.spec.node});
  }
  flows_->start();
}

void FlowScenarios::stop_flows(const std::set<std::string>& gone) {
  t_stop_ = FlowClock::now();
  flows_->stop();
  for (auto& ct : ct_) ct->stop();  // conntrack writes its last events out when it exits
  server_.clear();
  for (const auto& [key, pod] : cluster_.pods()) {
    if (gone.count(key)) continue;  // its server was killed
    const ServerStats s = server_stats(pod.server, janitor_.tmpdir() + "/" + pod.netns + ".log");
    server_.insert(s.begin(), s.end());
  }
}

void FlowScenarios::apply_policies(const json& policies) {
  t_write0_ = FlowClock::now();
  driver_->write_policies(policies, WriteMode::client_apply);
  t_write_ = FlowClock::now();
  driver_->converge();
  t_conv_ = FlowClock::now();
  figure("kubectl apply " + ms(seconds(t_write0_, t_write_)) + "; both agents converged " +
         ms(seconds(t_write_, t_conv_)) + " after it returned");
}

pid_t FlowScenarios::agent_pid(size_t k) const {
  const pid_t sup = driver_->agents().agents().at(k).pid;
  std::ifstream in("/proc/" + std::to_string(sup) + "/task/" + std::to_string(sup) + "/children");
  pid_t child = -1;
  return in >> child ? child : -1;
}

// ---- what a flow did -------------------------------------------------------------------------

const ServerFlowStat* FlowScenarios::server_stat(size_t i) const {
  const auto it = server_.find(stat_key(plan_[i].kind, rec(i).local));
  return it == server_.end() ? nullptr : &it->second;
}

std::optional<TimePoint> FlowScenarios::last_message(size_t i) const {
  std::optional<TimePoint> last = last_received(rec(i));
  if (const ServerFlowStat* s = server_stat(i); s && s->last_rx)
    last = last ? std::max(*last, *s->last_rx) : *s->last_rx;
  return last;
}

std::string FlowScenarios::flow_tuple(size_t i) const {
  return rec(i).local + " -> " + flows_->spec(i).dst_ip + ":" +
         std::to_string(flow_port(plan_[i].kind));
}

// ---- checks ----------------------------------------------------------------------------------

void FlowScenarios::check(bool ok, const std::string& what, const std::string& detail) {
  ++checks_;
  std::printf("  %s %s%s%s\n", ok ? "ok    " : "FAILED", what.c_str(), detail.empty() ? "" : ": ",
              detail.c_str());
  if (!ok) {
    failures_.push_back(name_ + ": " + what);
    if (driver_) std::printf("%s", driver_->diagnostics(15).c_str());
  }
  std::fflush(stdout);
}

void FlowScenarios::figure(const std::string& text) {
  std::printf("  figure %s\n", text.c_str());
  std::fflush(stdout);
}

void FlowScenarios::check_flowing(TimePoint t, double window) {
  std::string bad;
  size_t n = 0;
  const auto from =
      t - std::chrono::duration_cast<FlowClock::duration>(std::chrono::duration<double>(window));
  for (size_t i = 0; i < plan_.size(); ++i) {
    const FlowRecord& r = rec(i);
    if (!r.connect_error.empty()) {
      bad += "\n      " + flows_->spec(i).label() + ": " + r.connect_error;
    } else if (received_between(r, from, t) == 0) {
      bad += "\n      " + flows_->spec(i).label() + ": nothing received in the last " + ms(window) +
             (r.end.empty() ? "" : " (ended: " + r.end + ")");
    } else {
      ++n;
    }
  }
  check(bad.empty(), "every flow connected and delivering before the change",
        std::to_string(n) + " of " + std::to_string(plan_.size()) + bad);
}

std::vector<double> FlowScenarios::check_denied_stopped(TimePoint deadline,
                                                        const std::string& what) {
  std::vector<double> stops;
  std::string bad;
  size_t n = 0;
  for (size_t i = 0; i < plan_.size(); ++i) {
    if (!plan_[i].denied) continue;
    ++n;
    const auto last = last_message(i);
    if (!last || *last <= deadline) {
      if (last) stops.push_back(seconds(t_write_, *last));
      continue;
    }
    const ServerFlowStat* s = server_stat(i);
    bad += "\n      " + flows_->spec(i).label() + " [" + flow_tuple(i) + "]: last message " +
           plus(seconds(deadline, *last)) + " after " + what + "; client got " +
           std::to_string(received_between(rec(i), deadline, t_stop_)) + " after it" +
           (s && s->last_rx ? ", server's last " + plus(seconds(deadline, *s->last_rx)) : "");
  }
  check(bad.empty(),
        "every denied flow stopped, both directions, by " + what + " and stayed stopped",
        std::to_string(stops.size()) + " of " + std::to_string(n) + " flows" + bad);
  return stops;
}

// What went wrong with allowed flow i ("" if nothing); adds to the totals.
std::string FlowScenarios::allowed_flow_problems(size_t i, AllowedTotals& t) const {
  const FlowRecord& r = rec(i);
  const ServerFlowStat* s = server_stat(i);
  const std::string label = "\n      " + flows_->spec(i).label() + ": ";
  const TimePoint settled = t_stop_ - 100ms;  // what was sent before has arrived
  const size_t sent = static_cast<size_t>(
      std::count_if(r.sent.begin(), r.sent.end(), [&](TimePoint t) { return t <= settled; }));
  std::string bad;
  t.client_msgs += r.received.size();
  if (!r.end.empty()) bad += label + "ended (" + r.end + ")";
  if (r.gaps || r.dups) bad += label + "client saw " + r.first_anomaly;
  if (is_udp(plan_[i].kind) && r.received.size() < sent)
    bad += label + std::to_string(sent - r.received.size()) + " datagrams not echoed";
  if (!r.received.empty()) {
    const double silence = longest_silence(r, r.received.front(), t_stop_);
    t.longest = std::max(t.longest, silence);
    if (silence > kMaxSilence) bad += label + "client silent for " + ms(silence);
  }
  if (!sends(plan_[i].kind)) return bad;
  if (!s) return bad + label + "the server has no statistics for " + r.local;
  t.server_msgs += s->rx;
  if (s->gaps || s->dups)
    bad += label + "server saw " + std::to_string(s->gaps) + " gaps, " + std::to_string(s->dups) +
           " duplicates";
  if (s->rx < sent)
    bad += label + "server received " + std::to_string(s->rx) + " of " + std::to_string(sent);
  t.longest = std::max(t.longest, s->max_silence);
  if (s->max_silence > kMaxSilence) bad += label + "server silent for " + ms(s->max_silence);
  return bad;
}

double FlowScenarios::check_allowed_undisturbed() {
  std::string bad;
  AllowedTotals t;
  size_t n = 0;
  for (size_t i = 0; i < plan_.size(); ++i) {
    if (plan_[i].denied) continue;
    ++n;
    bad += allowed_flow_problems(i, t);
  }
  check(bad.empty(),
        "allowed flows: nothing lost or duplicated either way, no silence > " + ms(kMaxSilence),
        std::to_string(n) + " flows, " + std::to_string(t.client_msgs) + " messages to clients, " +
            std::to_string(t.server_msgs) + " to servers, longest silence " + ms(t.longest) + bad);
  return t.longest;
}

// Denied flow i in every node: the first deletion of its entry after `after` — or, for UDP,
// its quarantine (an UPDATE setting kQuarantineMark: the entry stays, its packets are
// dropped) —, then no new entry (a NEW event is an entry confirmed: a packet of the flow was
// accepted), and none in `conntrack -L` but entries in quarantine. Adds the times to
// `deleted_at`.
std::string FlowScenarios::pickup_problems(size_t i,
                                           const std::vector<std::vector<CtEvent>>& events,
                                           const std::vector<std::vector<CtEntry>>& tables,
                                           TimePoint after, std::vector<TimePoint>& deleted_at) {
  const std::string proto = is_udp(plan_[i].kind) ? "udp" : "tcp";
  const std::string server =
      flows_->spec(i).dst_ip + ":" + std::to_string(flow_port(plan_[i].kind));
  const std::string label = "\n      " + flows_->spec(i).label() + " [" + flow_tuple(i) + "]: ";
  std::string bad;
  bool revoked = false;
  for (size_t k = 0; k < events.size(); ++k) {
    const std::string node = cluster_.nodes()[k].name;
    std::optional<TimePoint> destroyed;
    for (const auto& ev : events[k]) {
      if (ev.t <= after || !same_flow(ev.entry, proto, rec(i).local, server)) continue;
      const bool cut = ev.type == "DESTROY" || (ev.type == "UPDATE" && ev.entry.quarantined());
      if (cut && !destroyed) {
        destroyed = ev.t;
        deleted_at.push_back(ev.t);
      } else if (ev.type == "NEW" && destroyed) {
        bad += label + "a new entry on " + node + " " + plus(seconds(t_write_, ev.t)) +
               " after the write: " + ev.entry.line;
      }
    }
    if (!destroyed) continue;
    revoked = true;
    for (const auto& e : tables[k]) {
      if (same_flow(e, proto, rec(i).local, server) && !e.quarantined())
        bad += label + "conntrack -L on " + node + " has " + e.line;
    }
  }
  if (!revoked) bad += label + "no node deleted (or quarantined) its conntrack entry";
  return bad;
}

void FlowScenarios::check_no_pickup(TimePoint after) {
  std::vector<std::vector<CtEvent>> events;
  std::vector<std::vector<CtEntry>> tables;
  std::string logged;
  for (size_t k = 0; k < ct_.size(); ++k) {
    events.push_back(ct_[k]->events());
    tables.push_back(conntrack_list(cluster_.nodes()[k].netns));
    logged += ", " + std::to_string(events[k].size()) + " on " + cluster_.nodes()[k].name;
  }
  std::string bad;
  std::vector<TimePoint> deleted_at;
  for (size_t i = 0; i < plan_.size(); ++i) {
    if (plan_[i].denied && !rec(i).local.empty())
      bad += pickup_problems(i, events, tables, after, deleted_at);
  }
  check(bad.empty(),
        "denied flows: entries deleted (TCP) or quarantined (UDP), none created again "
        "(conntrack -E, conntrack -L)",
        std::to_string(deleted_at.size()) + " entries cut; events logged" + logged + bad);
  std::vector<double> from_write, from_conv;
  for (TimePoint t : deleted_at) {
    from_write.push_back(seconds(t_write_, t));
    from_conv.push_back(seconds(t_conv_, t));
  }
  figure("conntrack entries of denied flows cut after the kubectl write: " + p50_max(from_write) +
         "; after convergence: " + p50_max(from_conv));
}

std::vector<double> FlowScenarios::counter(const std::string& name) const {
  std::vector<double> out;
  for (size_t k = 0; k < driver_->agents().agents().size(); ++k) {
    try {
      const Samples s = driver_->agents().metrics(k);
      const auto it = s.find(name);
      out.push_back(it == s.end() ? -1 : it->second);
    } catch (const std::exception&) {
      out.push_back(-1);
    }
  }
  return out;
}

void FlowScenarios::check_counter_up(const std::string& name, const std::vector<double>& before) {
  const std::vector<double> after = counter(name);
  bool up = !after.empty() && after.size() == before.size();
  std::string detail;
  for (size_t k = 0; k < after.size(); ++k) {
    up &= k < before.size() && after[k] > before[k];
    detail += (detail.empty() ? "" : ", ") + cluster_.nodes()[k].name + " " +
              std::to_string(static_cast<int64_t>(before.at(k))) + " -> " +
              std::to_string(static_cast<int64_t>(after[k]));
  }
  check(up, "every agent's " + name + " went up", detail);
}

// ---- 1. revocation ---------------------------------------------------------------------------

void FlowScenarios::revocation() {
  begin("revocation", 3600);
  start_flows(change_plan(true));
  std::this_thread::sleep_for(1s);
  check_flowing(FlowClock::now(), 0.3);
  const auto deleted = counter("nftpolicy_conntrack_deleted_total");
  apply_policies(change_policies());
  std::this_thread::sleep_for(2s);
  stop_flows();
  std::vector<double> stops =
      check_denied_stopped(t_conv_ + std::chrono::duration_cast<FlowClock::duration>(
                                         std::chrono::duration<double>(kStopBound)),
                           "convergence + 1 s");
  const double conv = seconds(t_write_, t_conv_);
  figure("denied flows' last message after the kubectl write: " + p50_max(stops));
  for (double& s : stops) s -= conv;
  figure("... after convergence: " + p50_max(stops));
  const double longest = check_allowed_undisturbed();
  check_no_pickup(t_write0_);
  check_counter_up("nftpolicy_conntrack_deleted_total", deleted);
  std::sort(stops.begin(), stops.end());
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "%zu flows; denied stopped %s..%s after convergence; allowed: longest silence %s",
                plan_.size(), stops.empty() ? "?" : plus(stops.front()).c_str(),
                stops.empty() ? "?" : plus(stops.back()).c_str(), ms(longest).c_str());
  summary(buf);
}

// ---- 3. restart ------------------------------------------------------------------------------

// SIGKILL of node k's agent; its supervisor starts it again 1 s later. Returns once it is
// ready (or 20 s passed).
FlowScenarios::Restart FlowScenarios::kill_agent(size_t k) {
  Restart r{.old_pid = agent_pid(k), .killed = FlowClock::now()};
  kill(r.old_pid, SIGKILL);
  while ((r.new_pid = agent_pid(k)) <= 0 || r.new_pid == r.old_pid) {
    if (seconds(r.killed, FlowClock::now()) > 10) break;
    std::this_thread::sleep_for(10ms);
  }
  r.started = FlowClock::now();
  while (!(r.ready_again = driver_->agents().get(k, "/readyz").status == 200) &&
         seconds(r.killed, FlowClock::now()) < 20)
    std::this_thread::sleep_for(20ms);
  r.ready = FlowClock::now();
  return r;
}

void FlowScenarios::restart() {
  begin("restart", 3600);
  start_flows(change_plan(false));
  std::this_thread::sleep_for(1s);
  check_flowing(FlowClock::now(), 0.3);
  apply_policies(change_policies());
  std::this_thread::sleep_for(1s);
  const std::string netns = cluster_.nodes().at(0).netns, log = driver_->agents().agents()[0].log;
  const json table_before = nft_table(netns);
  const auto offset = std::filesystem::file_size(log);
  const Restart r = kill_agent(0);
  check(r.new_pid > 0 && r.new_pid != r.old_pid, "the agent on n1 was SIGKILLed and started again",
        "pid " + std::to_string(r.old_pid) + " -> " + std::to_string(r.new_pid) + " " +
            plus(seconds(r.killed, r.started)) + " after the kill");
  check(r.ready_again, "the restarted agent became ready",
        plus(seconds(r.started, r.ready)) + " after it started");
  driver_->converge();
  std::this_thread::sleep_for(2s);
  const json table_after = nft_table(netns);
  stop_flows();
  const std::string sync = first_line_after(log, offset, {"sync node=n1", "result="});
  check(log_field(sync, "ops") == "0", "the restarted agent's first sync changed nothing",
        "ops=" + log_field(sync, "ops") + " read_back=" + log_field(sync, "read_back") +
            " drift=" + log_field(sync, "drift") + " conntrack_deleted=" +
            log_field(sync, "conntrack_deleted") + " total_ms=" + log_field(sync, "total_ms") +
            (opt_.verbose || log_field(sync, "ops") != "0" ? "\n      " + sync : ""));
  check(!table_before.empty() && table_after == table_before,
        "n1's table after the restart is the one before",
        std::to_string(table_after.size()) + " objects" + table_diff(table_before, table_after));
  check_denied_stopped(r.killed, "the kill");
  const double longest = check_allowed_undisturbed();
  check_no_pickup(t_write0_);
  summary(std::to_string(plan_.size()) + " flows; agent ready " + plus(seconds(r.killed, r.ready)) +
          " after the kill (1 s restart delay), first sync ops=" + log_field(sync, "ops") +
          "; allowed: longest silence " + ms(longest));
}

}  // namespace e2e
