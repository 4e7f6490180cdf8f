// The release scenario: UDP flows from y/b (n2) to x/c (n1), which admits pods labelled
// release=yes. y/b loses the label (an incremental patch: its address leaves a peer set), the
// flows are cut (their entries quarantined: a late answer must not re-open them); y/b gets the
// label back (a patch that only adds an address), and the flows must run again — their
// clients kept sending all along, so their entries never timed out: were the quarantine left
// in place, an allowed flow would stay dropped for as long as it lives.
#include <algorithm>
#include <thread>

#include "flow_scenarios.h"

namespace e2e {

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// x/c admits pods labelled release=yes, from any namespace.
const char* kReleasePolicy = R"([
  {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
   "metadata": {"namespace": "x", "name": "c-from-release"},
   "spec": {"podSelector": {"matchLabels": {"pod": "c"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {},
                                   "podSelector": {"matchLabels": {"release": "yes"}}}]}]}}
])";

TimePoint after_seconds(TimePoint t, double s) {
  return t + std::chrono::duration_cast<FlowClock::duration>(std::chrono::duration<double>(s));
}

std::optional<TimePoint> first_received_after(const FlowRecord& r, TimePoint t) {
  const auto it = std::upper_bound(r.received.begin(), r.received.end(), t);
  if (it == r.received.end()) return std::nullopt;
  return *it;
}

}  // namespace

void FlowScenarios::release() {
  begin("release", 3600);
  driver().kubectl_write("pods", {"label", "pod", "-n", "y", "b", "release=yes"});
  apply_policies(json::parse(kReleasePolicy));
  start_flows({{"y/b", "x/c", FlowKind::udp_echo, true}, {"y/b", "x/c", FlowKind::udp_late, true}});
  std::this_thread::sleep_for(1s);
  check_flowing(FlowClock::now(), 0.3);

  // Denied: y/b leaves the peer set.
  const auto t_deny = FlowClock::now();
  driver().kubectl_write("pods", {"label", "pod", "-n", "y", "b", "release-"});
  driver().converge();
  const auto t_deny_conv = FlowClock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(kStopBound + 1.0));

  // Allowed again: y/b joins it again — a patch that removes nothing.
  const auto t_allow = FlowClock::now();
  driver().kubectl_write("pods", {"label", "pod", "-n", "y", "b", "release=yes"});
  driver().converge();
  const auto t_allow_conv = FlowClock::now();
  std::this_thread::sleep_for(1500ms);
  stop_flows();

  std::string stopped_bad, resumed_bad, entry_bad;
  std::vector<double> resumed;
  const auto events = ct_.at(0)->events();  // n1: x/c's node, where the flows are judged
  for (size_t i = 0; i < plan_.size(); ++i) {
    const FlowRecord& r = rec(i);
    const std::string label = "\n      " + flows_->spec(i).label() + " [" + flow_tuple(i) + "]: ";
    const auto deadline = after_seconds(t_deny_conv, kStopBound);
    if (const size_t n = received_between(r, deadline, t_allow); n > 0)
      stopped_bad += label + std::to_string(n) + " answers after convergence + 1 s";
    const auto first = first_received_after(r, t_allow);
    if (!first || *first > after_seconds(t_allow_conv, 1.0)) {
      resumed_bad +=
          label + (first ? "first answer " + format_offset(seconds(t_allow_conv, *first)) +
                               " after convergence"
                         : "no answer since the label came back");
    } else {
      resumed.push_back(seconds(t_allow, *first));
    }
    // n1 marked the entry and cleared the mark again; it never deleted it.
    const std::string server =
        flows_->spec(i).dst_ip + ":" + std::to_string(flow_port(plan_[i].kind));
    std::optional<TimePoint> marked, cleared;
    bool destroyed = false;
    for (const auto& ev : events) {
      if (ev.t <= t_deny || !same_flow(ev.entry, "udp", r.local, server)) continue;
      if (ev.type == "DESTROY") destroyed = true;
      if (ev.type != "UPDATE") continue;
      if (ev.entry.quarantined() && !marked) marked = ev.t;
      if (!ev.entry.quarantined() && marked && !cleared && ev.t > t_allow) cleared = ev.t;
    }
    if (!marked || !cleared || destroyed)
      entry_bad += label + (marked ? "" : "never quarantined; ") +
                   (cleared ? "" : "never released; ") + (destroyed ? "deleted" : "");
  }
  check(stopped_bad.empty(), "denied: no answer from convergence + 1 s until the label came back",
        std::to_string(plan_.size()) + " flows" + stopped_bad);
  check(resumed_bad.empty(),
        "allowed again: answers again within 1 s of convergence (the entry released)",
        std::to_string(resumed.size()) + " of " + std::to_string(plan_.size()) + resumed_bad);
  check(entry_bad.empty(), "n1: each entry quarantined, then released, never deleted",
        std::to_string(events.size()) + " events on n1" + entry_bad);
  figure("first answer after the re-allowing kubectl write: " + p50_max(resumed) +
         "; convergence " + format_ms(seconds(t_allow, t_allow_conv)));
  summary(std::to_string(plan_.size()) + " UDP flows; cut, then running again " +
          (resumed.empty() ? "?" : format_ms(*std::max_element(resumed.begin(), resumed.end()))) +
          " after the write that allowed them again");
}

}  // namespace e2e
