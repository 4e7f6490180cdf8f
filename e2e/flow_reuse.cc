// The pod-reuse scenario: pod z/c (P) is deleted while flows run to and from it, and a new pod
// z/q (Q) with other labels, isolated by a policy, gets P's IP. Q is wired by the CNI bridge
// plugin as the Cluster wires its pods, with the same network configuration.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "flow_scenarios.h"
#include "prober.h"

namespace e2e {

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Q denies everything, both ways; it selects no pod until Q exists.
const char* kIsolateQ = R"([
  {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
   "metadata": {"namespace": "z", "name": "isolate-q"},
   "spec": {"podSelector": {"matchLabels": {"pod": "q"}},
            "policyTypes": ["Ingress", "Egress"]}}
])";

// "denied" marks P's flows: none may survive P. The others are controls.
std::vector<FlowPlan> reuse_plan() {
  using K = FlowKind;
  return {
      {"x/a", "z/c", K::udp_echo, true},  {"x/b", "z/c", K::udp_echo, true},
      {"x/a", "z/c", K::tcp_both, true},  {"x/b", "z/c", K::tcp_push, true},
      {"z/c", "x/b", K::tcp_push, true},  {"z/c", "x/a", K::tcp_both, true},
      {"y/a", "x/a", K::tcp_both, false}, {"y/b", "x/b", K::udp_echo, false},
  };
}

// Q: its network namespace, its sandbox and its pod_server; all of it removed at the end.
class NewPod {
 public:
  NewPod(Janitor& janitor, const Cluster& cluster, const FlowScenarioOptions& opt, PodInfo pod)
      : janitor_(janitor), cluster_(cluster), opt_(opt), s_(std::move(pod)) {}
  ~NewPod() {
    if (server_ > 0) {
      stop_child(server_, SIGKILL, 1s);
      janitor_.forget_child(server_);
    }
    if (wired_) cluster_.cni(s_, "DEL");
    if (fd_ >= 0) close(fd_);
    if (!s_.netns.empty()) janitor_.delete_netns(s_.netns);
  }
  NewPod(const NewPod&) = delete;
  NewPod& operator=(const NewPod&) = delete;

  // CNI ADD with the address; throws unless the plugin gave exactly that address.
  void wire() {
    s_.netns = janitor_.add_netns("pod-" + s_.spec.ns + "-" + s_.spec.name);
    fd_ = open_netns(s_.netns);
    must_run({"ip", "-n", s_.netns, "link", "set", "lo", "up"});
    wired_ = true;  // a failed ADD is undone by DEL too
    cluster_.cni_add(s_);
  }
  // Its pod_server (the ports of the pod it replaces); returns when it is ready.
  void serve(const std::vector<std::string>& ports_args) {
    log_ = janitor_.tmpdir() + "/" + s_.netns + ".log";
    std::vector<std::string> argv = {opt_.pod_server, "--name", s_.spec.key()};
    argv.insert(argv.end(), ports_args.begin(), ports_args.end());
    const Spawned sp = spawn({.argv = argv, .netns_fd = fd_, .log = log_, .pipe_stdout = true});
    server_ = sp.pid;
    janitor_.add_child(server_);
    std::string line;
    const bool ready = read_line(sp.stdout_fd, line, 5s) && line == "ready";
    close(sp.stdout_fd);
    if (!ready) throw std::runtime_error("the new pod's server did not start: " + line);
  }
  int netns_fd() const { return fd_; }
  pid_t server() const { return server_; }
  const std::string& log() const { return log_; }

 private:
  Janitor& janitor_;
  const Cluster& cluster_;
  const FlowScenarioOptions& opt_;
  PodInfo s_;
  int fd_ = -1;
  bool wired_ = false;
  pid_t server_ = -1;
  std::string log_;
};

json pod_manifest(const PodInfo& like, const std::string& name, const json& labels) {
  json ports = json::array();
  for (const auto& p : like.spec.ports) {
    json cp = {{"containerPort", p.port}, {"protocol", p.protocol}};
    if (!p.name.empty()) cp["name"] = p.name;
    ports.push_back(cp);
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", like.spec.ns}, {"labels", labels}}},
          {"spec",
           {{"nodeName", like.spec.node},
            {"containers", json::array({{{"name", "server"},
                                         {"image", "registry.k8s.io/e2e-test-images/agnhost:2.53"},
                                         {"ports", ports}}})}}}};
}

json pod_status(const std::string& ns, const std::string& name, const std::string& ip) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", name}, {"namespace", ns}}},
      {"status", {{"phase", "Running"}, {"podIP", ip}, {"podIPs", json::array({{{"ip", ip}}})}}}};
}

std::vector<std::string> server_port_args(const PodInfo& p) {
  std::string tcp, udp;
  for (const auto& port : p.spec.ports) {
    std::string& list = port.protocol == "TCP" ? tcp : udp;
    if (port.protocol == "TCP" || port.protocol == "UDP")
      list += (list.empty() ? "" : ",") + std::to_string(port.port);
  }
  return {"--tcp", tcp, "--udp", udp};
}

}  // namespace

void FlowScenarios::pod_reuse() {
  begin("pod-reuse", 3600);
  const PodInfo& p = cluster_.pod("z/c");
  const std::string ip = p.spec.ips.at(0);
  driver().write_policies(json::parse(kIsolateQ), WriteMode::client_apply);
  driver().converge();
  start_flows(reuse_plan());
  std::this_thread::sleep_for(1s);
  check_flowing(FlowClock::now(), 0.3);
  const auto deleted = counter("nftpolicy_conntrack_deleted_total");
  // P goes as under a kubelet: deleted in the API, its containers stopped, its sandbox torn
  // down. t_del: its server killed, right after kubectl returned.
  driver().kubectl_write("pods", {"delete", "pod", "-n", "z", "c", "--wait=false"});
  cluster_changed_ = true;
  kill(p.server, SIGKILL);
  const TimePoint t_del = FlowClock::now();
  const RunResult del = cluster_.cni(p, "DEL");
  check(del.rc == 0, "z/c deleted (kubectl delete), its server killed, CNI DEL", del.err);
  while (driver().standin().try_kubectl({"get", "pod", "-n", "z", "c", "-o", "name"}).rc == 0 &&
         seconds(t_del, FlowClock::now()) < 10)
    std::this_thread::sleep_for(50ms);
  const TimePoint t_gone = FlowClock::now();
  driver().converge();
  const TimePoint t_released = FlowClock::now();
  figure("z/c gone from the API " + format_offset(seconds(t_del, t_gone)) +
         " after its server was killed; both agents had it " +
         format_offset(seconds(t_gone, t_released)) + " later");
  reuse_address(p, ip, t_del, t_released, deleted);
}

void FlowScenarios::reuse_address(const PodInfo& p, const std::string& ip, TimePoint t_del,
                                  TimePoint t_released, const std::vector<double>& deleted) {
  // Q in the API with P's address before its network is up: see README.md on why.
  driver().kubectl_write(
      "pods",
      {"apply", "-f",
       driver().write_manifest("pod-q", json::array({pod_manifest(p, "q", {{"pod", "q"}})}))});
  driver().kubectl_write(
      "pods", {"apply", "--server-side", "--subresource=status", "-f",
               driver().write_manifest("pod-q-status", json::array({pod_status("z", "q", ip)}))});
  driver().converge();
  const TimePoint t_known = FlowClock::now();
  PodInfo q_info;
  q_info.spec = p.spec;
  q_info.spec.name = "q";
  q_info.spec.labels = {{"pod", "q"}};
  q_info.spec.ips = {ip};
  q_info.container_id = janitor_.prefix() + "z-q";
  NewPod q(janitor_, cluster_, opt_, std::move(q_info));
  q.wire();
  q.serve(server_port_args(p));
  figure("z/q in both agents " + format_offset(seconds(t_del, t_known)) +
         " after z/c's server was killed; its network and server up " +
         format_offset(seconds(t_known, FlowClock::now())) + " later, with " + ip);
  std::this_thread::sleep_for(2s);
  check_new_pod_judged(q.netns_fd(), ip);
  stop_flows({"z/c"});
  const ServerStats q_stats = server_stats(q.server(), q.log());
  check_old_flows_gone(t_del, t_released, t_known, q_stats);
  check_allowed_undisturbed();
  const auto now = counter("nftpolicy_conntrack_deleted_total");
  check(now.at(0) > deleted.at(0), "n1's agent deleted conntrack entries (P's address released)",
        std::to_string(static_cast<int64_t>(deleted.at(0))) + " -> " +
            std::to_string(static_cast<int64_t>(now.at(0))));
  summary(std::to_string(plan_.size()) + " flows; z/c's address reused by z/q " +
          format_offset(seconds(t_del, t_known)) +
          " after the delete; nothing of the old flows "
          "reached z/q");
}

// z/q is isolated both ways by its own labels: nothing connects to it or from it, over TCP or
// UDP, from its node or the other one; a pod next to it still answers.
void FlowScenarios::check_new_pod_judged(int q_fd, const std::string& ip) {
  const PodInfo &xa = cluster_.pod("x/a"), &yb = cluster_.pod("y/b"), &za = cluster_.pod("z/a");
  const std::vector<ProbeTask> tasks = {
      {.from_netns_fd = xa.netns_fd,
       .dst_ip = ip,
       .port = 80,
       .protocol = "TCP",
       .expect_reply = "z/q"},
      {.from_netns_fd = xa.netns_fd, .dst_ip = ip, .port = 80, .protocol = "UDP"},
      {.from_netns_fd = yb.netns_fd,
       .dst_ip = ip,
       .port = 81,
       .protocol = "TCP",
       .expect_reply = "z/q"},
      {.from_netns_fd = q_fd,
       .dst_ip = xa.spec.ips.at(0),
       .port = 80,
       .protocol = "TCP",
       .expect_reply = "x/a"},
      {.from_netns_fd = xa.netns_fd,
       .dst_ip = za.spec.ips.at(0),
       .port = 80,
       .protocol = "TCP",
       .expect_reply = "z/a"},
  };
  const char* names[] = {"x/a -> z/q 80/TCP", "x/a -> z/q 80/UDP", "y/b -> z/q 81/TCP",
                         "z/q -> x/a 80/TCP", "x/a -> z/a 80/TCP (control)"};
  const auto out = probe_all(tasks, {.timeout = 1s, .attempts = 1});
  std::string detail, bad;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const bool want = i + 1 == tasks.size();
    detail += std::string(detail.empty() ? "" : ", ") + names[i] + (out[i].connected ? " ." : " X");
    if (out[i].connected != want)
      bad += std::string("\n      ") + names[i] +
             (want ? ": blocked (" + out[i].detail + ")" : ": connected");
  }
  check(bad.empty(), "z/q is judged by its own labels (isolate-q: nothing in or out)",
        detail + bad);
}

// P's flows: nothing after P's deletion reached a client or a server, z/q's server saw none
// of them, no server's connection to P's address was reset by z/q's kernel; on n1 every
// entry of them was deleted when P went, and none exists or was created once z/q was in.
void FlowScenarios::check_old_flows_gone(TimePoint t_del, TimePoint t_released, TimePoint t_known,
                                         const ServerStats& q_stats) {
  std::string bad;
  std::vector<double> last;
  for (size_t i = 0; i < plan_.size(); ++i) {
    if (!plan_[i].denied) continue;
    const auto l = last_message(i);
    if (l) last.push_back(seconds(t_del, *l));
    if (l && *l > t_released)
      bad += "\n      " + flows_->spec(i).label() + ": a message " +
             format_offset(seconds(t_released, *l)) + " after P was released";
    const ServerFlowStat* s = plan_[i].from == "z/c" ? server_stat(i) : nullptr;
    if (s && s->state == "rst")
      bad += "\n      " + flows_->spec(i).label() + ": the server's connection was reset";
  }
  std::string q_saw;
  for (const auto& [key, s] : q_stats) q_saw += "\n      z/q's server got " + key;
  check(bad.empty() && q_saw.empty(), "no old flow survives z/c: nothing through, nothing to z/q",
        "last messages after z/c's server was killed: " + p50_max(last) + bad + q_saw);
  check_entries_gone(t_del, t_released, t_known);
}

void FlowScenarios::check_entries_gone(TimePoint t_del, TimePoint t_released, TimePoint t_known) {
  const auto events = ct_.at(0)->events();
  const auto table = conntrack_list(cluster_.nodes().at(0).netns);
  std::string bad;
  size_t destroyed_n = 0, orphan_n = 0;
  for (size_t i = 0; i < plan_.size(); ++i) {
    if (!plan_[i].denied || rec(i).local.empty()) continue;
    const std::string proto = is_udp(plan_[i].kind) ? "udp" : "tcp";
    const std::string server =
        flows_->spec(i).dst_ip + ":" + std::to_string(flow_port(plan_[i].kind));
    const std::string label = "\n      " + flows_->spec(i).label() + " [" + flow_tuple(i) + "]: ";
    bool destroyed = false;
    for (const auto& ev : events) {
      if (!same_flow(ev.entry, proto, rec(i).local, server)) continue;
      destroyed |= ev.type == "DESTROY" && ev.t > t_del && ev.t <= t_released;
      orphan_n += ev.type == "NEW" && ev.t > t_released && ev.t <= t_known;
      if (ev.type == "NEW" && ev.t > t_known)
        bad += label + "new entry " + format_offset(seconds(t_known, ev.t)) +
               " after z/q was in: " + ev.entry.line;
    }
    destroyed_n += destroyed;
    if (!destroyed) bad += label + "its entry on n1 was not deleted when z/c went";
    // An entry in quarantine carries nothing (its packets are dropped): an old UDP flow that
    // kept sending to the address while no pod had it, cut when z/q was isolated.
    for (const auto& e : table) {
      if (same_flow(e, proto, rec(i).local, server) && !e.quarantined())
        bad += label + "conntrack -L: " + e.line;
    }
  }
  check(bad.empty(),
        "n1: entries of z/c's flows deleted when it went, none there (but in quarantine) or "
        "created since z/q",
        std::to_string(destroyed_n) + " deleted" + bad);
  figure("entries of z/c's old flows created on n1 while no pod had its address: " +
         std::to_string(orphan_n) + " (mid-stream pickups, datagrams to the address)");
}

}  // namespace e2e
