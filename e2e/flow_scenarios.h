// Flow scenarios (`nftpolicy-e2e --flows`): long-lived connections between pods while the
// cluster changes under them. The upstream-model cluster (namespaces x, y, z; pods a, b, c;
// a and c on node n1, b on n2), a fresh API server stand-in per scenario, one nftpolicy-agent
// per node run as the kubelet runs a DaemonSet's container (started again with the same
// flags after a SIGKILL), changes made with kubectl, nf_conntrack_tcp_loose=1 in both nodes,
// and `conntrack -E` logging every entry created and deleted in each node.
//
//   revocation  TCP (both ways, server push) and UDP flows (echo, late echo), same node and
//               across nodes; a change isolates x/b and x/c for ingress (only namespace y may
//               connect) and z/a for egress (only to namespace y). Every flow the change
//               denies stops, in both directions, for good (no new conntrack entry: no
//               mid-stream pickup, no answer opening a flow the other way); every other flow
//               goes on with no message lost and no stall.
//   restart     the same flows and change; then one agent is SIGKILLed and started again:
//               allowed flows undisturbed, denied ones stay stopped, the restarted agent's
//               first sync changes nothing, and it becomes ready.
//   tampering   agents with --resync-interval 1; on n1 the table is deleted, a set and a
//               dispatch map are flushed, an accept rule is inserted at the top of the
//               forward chain: each is restored within resync + 1 s, and no denied flow gets
//               a message through after the restore.
//   release     UDP flows y/b -> x/c, which admits pods labelled release=yes: y/b loses the
//               label (its flows are cut: quarantined), then gets it back (a change that only
//               adds to a peer set): the flows run again within 1 s, their entries released,
//               never deleted.
//   pod-reuse   flows to and from pod z/c; it is deleted (kubectl; the stand-in plays the
//               kubelet), its network torn down (CNI DEL), and a new pod z/q with other labels,
//               which a policy isolates, gets its IP (CNI ADD). No old flow survives (nothing
//               reaches z/q, no conntrack entry of an old flow), and z/q is judged by its own
//               labels.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "api_driver.h"
#include "cluster.h"
#include "conformance_case.h"
#include "flow_conntrack.h"
#include "flows.h"

namespace e2e {

struct FlowScenarioOptions {
  std::string agent;       // nftpolicy-agent
  std::string pod_server;  // for the pod that takes over an address
  std::string standin_script;
  std::string kubectl = "kubectl";
  std::string cni_bin = "/usr/lib/cni";
  std::string workdir;  // the run's temp dir
  bool verbose = false;
  std::chrono::milliseconds converge_timeout{20000};
};

// The change of revocation, restart and tampering: x/b and x/c accept connections from
// namespace y only (x/isolate-b-c); z/a may connect to namespace y only (z/egress-a-to-y).
nlohmann::json change_policies();

// The agent's table in a node as a value (`nft -j -s list table inet nftpolicy`): objects by
// kind and name, rules by chain and position, without kernel handles, set elements sorted —
// a table re-created in another order is equal. Empty when there is no table.
nlohmann::json nft_table(const std::string& netns);
// What differs between two nft_table() values, one "- key", "+ key" or "~ key" line each.
std::string table_diff(const nlohmann::json& before, const nlohmann::json& after);

// A flow of a scenario, and whether the scenario's change denies it.
struct FlowPlan {
  std::string from, to;
  FlowKind kind = FlowKind::tcp_both;
  bool denied = false;
};

class FlowScenarios {
 public:
  FlowScenarios(Janitor& janitor, Cluster& cluster, const std::vector<cases::Case>& all,
                FlowScenarioOptions opt);
  ~FlowScenarios();
  FlowScenarios(const FlowScenarios&) = delete;
  FlowScenarios& operator=(const FlowScenarios&) = delete;

  // Runs the scenarios whose name contains `filter`; a line per check, figures, a summary
  // line per scenario. Exit code 0 when every check passed.
  int run(const std::string& filter);

 private:
  void revocation();
  void restart();
  struct Restart {
    pid_t old_pid = -1;
    TimePoint killed{};
    pid_t new_pid = -1;
    TimePoint started{}, ready{};
    bool ready_again = false;
  };
  Restart kill_agent(size_t k);
  void tampering();  // flow_tamper.cc
  struct TamperWindow {
    std::string what;
    TimePoint t0{}, restored{}, next{};  // tampered, table equal again, next tamper
    bool equal = false;
    std::string diff;  // when never equal again: what differs
  };
  std::vector<TamperWindow> tamper_with_n1(const nlohmann::json& snapshot);
  double check_tamper_window(const TamperWindow& w, const std::vector<CtEvent>& n1_events);
  void release();    // flow_release.cc
  void pod_reuse();  // flow_reuse.cc
  void reuse_address(const PodInfo& p, const std::string& ip, TimePoint t_del, TimePoint t_released,
                     const std::vector<double>& deleted);
  void check_new_pod_judged(int q_fd, const std::string& ip);
  void check_old_flows_gone(TimePoint t_del, TimePoint t_released, TimePoint t_known,
                            const ServerStats& q_stats);
  void check_entries_gone(TimePoint t_del, TimePoint t_released, TimePoint t_known);

  // ---- a scenario's world (flow_scenarios.cc) ------------------------------------------------
  // The cluster (rebuilt when a scenario changed it), tcp_loose=1 in both nodes, a fresh
  // control plane whose agents read the kernel back every `resync` seconds, and the conntrack
  // event logs.
  void begin(const std::string& name, int resync_seconds);
  void end();  // flows, event logs and control plane stopped
  void start_flows(const std::vector<FlowPlan>& plan);
  // t_stop_, and the statistics of every pod server but those of the pods `gone`.
  void stop_flows(const std::set<std::string>& gone = {});
  // One `kubectl apply` of the policies, then convergence: t_write0_, t_write_, t_conv_.
  void apply_policies(const nlohmann::json& policies);
  ApiDriver& driver() { return *driver_; }
  // The agent process under node k's supervisor; -1 while it is being started again.
  pid_t agent_pid(size_t k) const;

  // ---- what a flow did -----------------------------------------------------------------------
  const FlowRecord& rec(size_t i) const { return flows_->record(i); }
  const ServerFlowStat* server_stat(size_t i) const;
  // The last message of flow i in either direction (the client's receipts, the server's).
  std::optional<TimePoint> last_message(size_t i) const;
  std::string flow_tuple(size_t i) const;  // "10.244.1.10:43512 -> 10.244.1.12:7000"

  // ---- checks shared by the scenarios --------------------------------------------------------
  // Every flow connected and delivered messages in the `window` seconds before `t`.
  void check_flowing(TimePoint t, double window);
  // Denied flows: the last message in either direction no later than `deadline`; returns
  // each one's stop time after t_write_ (the figures).
  std::vector<double> check_denied_stopped(TimePoint deadline, const std::string& what);
  // Allowed flows: no message lost or duplicated either way, never silent longer than
  // kMaxSilence; returns the longest silence seen.
  double check_allowed_undisturbed();
  struct AllowedTotals {
    size_t client_msgs = 0, server_msgs = 0;
    double longest = 0;
  };
  std::string allowed_flow_problems(size_t i, AllowedTotals& totals) const;
  // Denied flows: some node deleted the entry after `after`, no node created one again (no
  // NEW event after its DESTROY), and `conntrack -L` there has none.
  void check_no_pickup(TimePoint after);
  std::string pickup_problems(size_t i, const std::vector<std::vector<CtEvent>>& events,
                              const std::vector<std::vector<CtEntry>>& tables, TimePoint after,
                              std::vector<TimePoint>& deleted_at);
  // Each agent's counter went up since `before` (values from counter()).
  void check_counter_up(const std::string& name, const std::vector<double>& before);
  std::vector<double> counter(const std::string& name) const;

  void check(bool ok, const std::string& what, const std::string& detail = "");
  void figure(const std::string& text);
  void summary(const std::string& text) { summary_ = text; }

  static constexpr double kMaxSilence = 0.2;  // seconds, for allowed flows
  static constexpr double kStopBound = 1.0;   // seconds after convergence, for denied flows

  Janitor& janitor_;
  Cluster& cluster_;
  const std::vector<cases::Case>& all_;
  const cases::Case* model_ = nullptr;
  FlowScenarioOptions opt_;
  bool cluster_changed_ = false;  // pod-reuse took a pod away
  std::string name_, dir_;
  std::unique_ptr<ApiDriver> driver_;
  std::vector<std::unique_ptr<ConntrackEvents>> ct_;
  std::vector<FlowPlan> plan_;
  std::unique_ptr<FlowRunner> flows_;
  ServerStats server_;
  TimePoint t_write0_{}, t_write_{}, t_conv_{}, t_stop_{};
  size_t checks_ = 0;
  std::vector<std::string> failures_;
  std::string summary_;
};

}  // namespace e2e
