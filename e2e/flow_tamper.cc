// The tampering scenario: someone changes the agent's table by hand in node n1 while flows
// run; the agent, reading the kernel back every second (--resync-interval 1), must restore it.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "flow_scenarios.h"

namespace e2e {

namespace {

using namespace std::chrono_literals;

constexpr int kResync = 1;  // seconds between the agents' read-backs in this scenario

struct Tamper {
  const char* what;
  std::vector<std::string> command;
};

// The whole table; the set the mid-stream guard uses; the dispatch map of ingress-isolated
// pods; an accept rule ahead of everything in the forward chain.
const std::vector<Tamper>& tampers() {
  static const std::vector<Tamper> all = {
      {"table deleted", {"nft", "delete", "table", "inet", "nftpolicy"}},
      {"set isolated-v4 flushed", {"nft", "flush", "set", "inet", "nftpolicy", "isolated-v4"}},
      {"map ingress-v4 flushed", {"nft", "flush", "map", "inet", "nftpolicy", "ingress-v4"}},
      {"accept rule inserted at the top of forward",
       {"nft", "insert", "rule", "inet", "nftpolicy", "forward", "accept"}},
  };
  return all;
}

// Flows inside n1, where the table is tampered with.
std::vector<FlowPlan> tamper_plan() {
  using K = FlowKind;
  return {
      {"x/a", "x/c", K::udp_echo, true},  {"z/a", "z/c", K::udp_echo, true},
      {"x/a", "x/c", K::tcp_both, true},  {"x/a", "x/c", K::tcp_push, true},
      {"z/a", "x/a", K::tcp_push, true},  {"y/a", "x/c", K::tcp_both, false},
      {"y/a", "x/c", K::tcp_push, false}, {"y/c", "x/c", K::udp_echo, false},
      {"x/a", "z/c", K::tcp_both, false}, {"z/a", "y/c", K::udp_echo, false},
  };
}

size_t count_lines(const std::string& log, const std::vector<std::string>& parts) {
  std::ifstream in(log);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    n += std::all_of(parts.begin(), parts.end(),
                     [&](const std::string& p) { return line.find(p) != std::string::npos; });
  }
  return n;
}

}  // namespace

nlohmann::json nft_table(const std::string& netns) {
  const RunResult r =
      e2e::run(in_netns(netns, {"nft", "-j", "-s", "list", "table", "inet", "nftpolicy"}));
  nlohmann::json out = nlohmann::json::object();
  if (r.rc != 0) return out;
  std::map<std::string, int> rules;  // per chain, so far
  const nlohmann::json listing = nlohmann::json::parse(r.out);
  for (nlohmann::json obj : listing.at("nftables")) {
    for (auto& [kind, body] : obj.items()) {
      if (kind == "metainfo") continue;
      body.erase("handle");
      if (body.contains("elem")) {
        auto& elems = body["elem"];
        std::sort(elems.begin(), elems.end(),
                  [](const auto& a, const auto& b) { return a.dump() < b.dump(); });
      }
      const std::string name = body.value(kind == "rule" ? "chain" : "name", "");
      out[kind + " " + name + (kind == "rule" ? " #" + std::to_string(rules[name]++) : "")] = body;
    }
  }
  return out;
}

std::string table_diff(const nlohmann::json& before, const nlohmann::json& after) {
  std::string out;
  for (const auto& [key, v] : before.items()) {
    if (!after.contains(key))
      out += "\n      - " + key;
    else if (after[key] != v)
      out += "\n      ~ " + key + ": " + after[key].dump();
  }
  for (const auto& [key, v] : after.items()) {
    if (!before.contains(key)) out += "\n      + " + key + ": " + v.dump();
  }
  return out;
}

// Each tamper in turn on node n1; each time, polls the table until it equals `snapshot`
// again, then watches the flows for 1 s.
std::vector<FlowScenarios::TamperWindow> FlowScenarios::tamper_with_n1(
    const nlohmann::json& snapshot) {
  const std::string netns = cluster_.nodes().at(0).netns;
  std::vector<TamperWindow> windows;
  for (const Tamper& t : tampers()) {
    TamperWindow w{.what = t.what, .t0 = FlowClock::now()};
    must_run(in_netns(netns, t.command));
    while (!(w.equal = nft_table(netns) == snapshot) &&
           seconds(w.t0, FlowClock::now()) < kResync + 4)
      std::this_thread::sleep_for(10ms);
    w.restored = FlowClock::now();
    if (!w.equal) w.diff = table_diff(snapshot, nft_table(netns));
    std::this_thread::sleep_for(1s);
    w.next = FlowClock::now();
    windows.push_back(w);
  }
  return windows;
}

// The table restored within the bound; what denied flows got through during the gap (they
// may); nothing from 50 ms after the restore on, with the conntrack entries that let it
// through. A flow already through before this tamper was reported by an earlier window.
double FlowScenarios::check_tamper_window(const TamperWindow& w,
                                          const std::vector<CtEvent>& n1_events) {
  const double gap = seconds(w.t0, w.restored);
  check(w.equal && gap <= kResync + 1, w.what + ": table restored",
        format_ms(gap) + " (bound: resync " + std::to_string(kResync) + " s + 1 s)" + w.diff);
  size_t during = 0;
  std::string after, already;
  for (size_t i = 0; i < plan_.size(); ++i) {
    if (!plan_[i].denied) continue;
    during += received_between(rec(i), w.t0, w.restored);
    const std::string label = "\n      " + flows_->spec(i).label() + " [" + flow_tuple(i) + "]";
    if (received_between(rec(i), w.t0 - 200ms, w.t0) > 0) {
      already += label;
      continue;
    }
    const size_t n = received_between(rec(i), w.restored + 50ms, w.next);
    if (n == 0) continue;
    after += label + ": " + std::to_string(n) + " messages";
    const std::string proto = is_udp(plan_[i].kind) ? "udp" : "tcp";
    const std::string server =
        flows_->spec(i).dst_ip + ":" + std::to_string(flow_port(plan_[i].kind));
    for (const auto& ev : n1_events) {
      if (ev.type == "NEW" && ev.t > w.t0 && ev.t <= w.next &&
          same_flow(ev.entry, proto, rec(i).local, server))
        after += "\n        NEW " + format_offset(seconds(w.restored, ev.t)) +
                 " after the restore: " + ev.entry.src + " -> " + ev.entry.dst;
    }
  }
  figure(w.what + ": gap " + format_ms(gap) + ", " + std::to_string(during) +
         " messages of denied flows got through during it");
  check(
      after.empty(), w.what + ": no denied flow gets a message through after the restore",
      "from 50 ms after it for " + format_ms(seconds(w.restored, w.next)) + after +
          (already.empty() ? "" : "\n      (already through before this tamper:" + already + ")"));
  return gap;
}

void FlowScenarios::tampering() {
  begin("tampering", kResync);
  start_flows(tamper_plan());
  std::this_thread::sleep_for(1s);
  check_flowing(FlowClock::now(), 0.3);
  apply_policies(change_policies());
  std::this_thread::sleep_for(1s);
  const auto repairs = counter("nftpolicy_drift_repairs_total");
  const auto windows = tamper_with_n1(nft_table(cluster_.nodes().at(0).netns));
  stop_flows();
  std::vector<double> gaps;
  const auto n1_events = ct_.at(0)->events();
  for (const auto& w : windows) gaps.push_back(check_tamper_window(w, n1_events));
  check_denied_stopped(windows.back().restored + 50ms, "50 ms after the last restore");
  const double longest = check_allowed_undisturbed();
  const auto now = counter("nftpolicy_drift_repairs_total");
  check(!now.empty() && now[0] >= repairs.at(0) + static_cast<double>(windows.size()),
        "n1's agent counted every repair (nftpolicy_drift_repairs_total)",
        std::to_string(static_cast<int64_t>(repairs.at(0))) + " -> " +
            std::to_string(static_cast<int64_t>(now.at(0))));
  const std::string log = driver().agents().agents().at(0).log;
  figure("n1's agent: " + std::to_string(count_lines(log, {"sync node=n1", "read_back=true"})) +
         " read-backs, " + std::to_string(count_lines(log, {"behind the agent's back"})) +
         " found the table changed, " +
         std::to_string(count_lines(log, {"changed by another process"})) +
         " table notifications acted on");
  std::sort(gaps.begin(), gaps.end());
  summary(std::to_string(windows.size()) + " tampers; restored in " + format_ms(gaps.front()) +
          ".." + format_ms(gaps.back()) + " (resync " + std::to_string(kResync) +
          " s); allowed: longest silence " + format_ms(longest));
}

}  // namespace e2e
