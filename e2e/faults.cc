#include "faults.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

namespace e2e {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The collection the agents list and watch; kubectl uses the namespaced paths, so a fault
// on this prefix cuts the agents off their policies and nothing else.
constexpr const char* kPoliciesPath = "/apis/networking.k8s.io/v1/networkpolicies";
constexpr const char* kResources[] = {"namespaces", "pods", "networkpolicies"};

std::string show(const std::vector<double>& v) {
  std::string out;
  for (double x : v) out += (out.empty() ? "" : ", ") + std::to_string(static_cast<int64_t>(x));
  return "[" + out + "]";
}

bool above(const std::vector<double>& now, const std::vector<double>& before) {
  for (size_t i = 0; i < now.size(); ++i) {
    if (i >= before.size() || now[i] <= before[i]) return false;
  }
  return !now.empty();
}

std::string show(const std::vector<int>& v) {
  return show(std::vector<double>(v.begin(), v.end()));
}

template <class F>
bool every(const std::vector<double>& v, F f) {
  return !v.empty() && std::all_of(v.begin(), v.end(), f);
}

json policy_object(const std::string& ns, const std::string& name, const json& spec) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", spec}};
}

}  // namespace

int FaultScenarios::run(const std::string& filter) {
  const std::vector<Scenario> scenarios = {
      {"drop-watches", [this] { drop_watches(); }},
      {"relist-410", [this] { relist_after_410(); }},
      {"apiserver-down", [this] { apiserver_down(); }},
      {"malformed", [this] { malformed_objects(); }},
  };
  size_t ran = 0, passed = 0;
  const auto t_all = Clock::now();
  for (const auto& s : scenarios) {
    if (s.name.find(filter) == std::string::npos || interrupted()) continue;
    std::printf("FAULT %s\n", s.name.c_str());
    std::fflush(stdout);
    const size_t failed_before = failures_.size();
    const auto t0 = Clock::now();
    try {
      s.body();
    } catch (const std::exception& e) {
      check(false, s.name + " aborted", e.what());
    }
    const bool ok = failures_.size() == failed_before && !interrupted();
    if (prober_.verbose()) std::printf("%s", driver_.diagnostics(10).c_str());
    driver_.down();
    ++ran, passed += ok;
    std::printf("%s  %-58s %6.1f s\n\n", ok ? "PASS" : "FAIL", s.name.c_str(),
                std::chrono::duration<double>(Clock::now() - t0).count());
    std::fflush(stdout);
  }
  std::printf("%zu fault scenarios: %zu passed, %zu failed; %zu checks, %zu failed; %.1f s\n", ran,
              passed, ran - passed, checks_, failures_.size(),
              std::chrono::duration<double>(Clock::now() - t_all).count());
  for (const auto& f : failures_) std::printf("  failed: %s\n", f.c_str());
  if (ran == 0) throw std::runtime_error("no fault scenario matches --filter '" + filter + "'");
  return passed == ran ? 0 : 1;
}

// ---- helpers -------------------------------------------------------------------------------

const cases::Case& FaultScenarios::find(const std::string& name) const {
  for (const auto& c : all_) {
    if (c.name == name) return c;
  }
  throw std::runtime_error("no case named " + name + " (the scenarios need the upstream cases)");
}

void FaultScenarios::start(const cases::Case& c) {
  if (!cluster_.matches(c)) {
    driver_.down();
    cluster_.create(c);
  }
  driver_.up(c);
}

void FaultScenarios::write_step(const cases::Case& c, size_t i, cases::CaseState& state) {
  state.apply(c.steps[i]);
  driver_.write_labels(state);
  driver_.write_policies(c.steps[i].policies, WriteMode::client_apply);
}

void FaultScenarios::expect(const cases::Case& c, size_t step, const std::string& when) {
  const cases::Step& s = c.steps.at(step);
  const CheckResult r = prober_.check(c, s.name + " (" + when + ")", s.probes);
  check(r.ok, when + ": probes as in " + c.name + " / " + s.name,
        std::to_string(r.probes) + " probes");
}

void FaultScenarios::check(bool ok, const std::string& what, const std::string& detail) {
  ++checks_;
  std::printf("  %s %s%s%s\n", ok ? "ok    " : "FAILED", what.c_str(), detail.empty() ? "" : ": ",
              detail.c_str());
  if (!ok) {
    failures_.push_back(what);
    std::printf("%s", driver_.diagnostics(25).c_str());
  }
  std::fflush(stdout);
}

std::vector<double> FaultScenarios::metric(const std::string& name, const std::string& label,
                                           const std::string& value) {
  std::vector<double> out;
  for (size_t i = 0; i < driver_.agents().agents().size(); ++i) {
    try {
      out.push_back(NodeAgents::sample(driver_.agents().metrics(i), name, label, value));
    } catch (const std::exception&) {
      out.push_back(-1);
    }
  }
  return out;
}

bool FaultScenarios::wait_for(const std::function<bool()>& cond,
                              std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!cond()) {
    if (Clock::now() > deadline || interrupted()) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

bool FaultScenarios::wait_above(const std::string& name, const std::string& label,
                                const std::string& value, const std::vector<double>& before,
                                std::chrono::milliseconds timeout) {
  return wait_for([&] { return above(metric(name, label, value), before); }, timeout);
}

bool FaultScenarios::table_absent_everywhere() const {
  for (const auto& n : cluster_.nodes()) {
    if (e2e::run(in_netns(n.netns, {"nft", "list", "table", "inet", "nftpolicy"})).rc == 0)
      return false;
  }
  return true;
}

bool FaultScenarios::log_has_line(const std::vector<std::string>& parts) const {
  for (const auto& a : driver_.agents().agents()) {
    std::ifstream in(a.log);
    bool found = false;
    for (std::string line; !found && std::getline(in, line);) {
      found = std::all_of(parts.begin(), parts.end(),
                          [&](const std::string& p) { return line.find(p) != std::string::npos; });
    }
    if (!found) return false;
  }
  return true;
}

std::vector<int> FaultScenarios::readyz() const {
  std::vector<int> out;
  for (size_t i = 0; i < driver_.agents().agents().size(); ++i)
    out.push_back(driver_.agents().get(i, "/readyz").status);
  return out;
}

// ---- 1. watches dropped mid-way ------------------------------------------------------------

void FaultScenarios::drop_watches() {
  // A pod label change, a namespace label change and a policy update: each watch matters.
  for (const char* name :
       {"ingress-from-updated-pod", "ingress-from-updated-namespace", "updated-policy"}) {
    drop_watches_case(find(name));
  }
}

void FaultScenarios::drop_watches_case(const cases::Case& c) {
  start(c);
  cases::CaseState state(c);
  const size_t agents = driver_.agents().agents().size();
  for (size_t i = 0; i < c.steps.size(); ++i) {
    check(wait_watches_open(agents), "every agent watches its 3 resources");
    // Every watch cut mid-stream; new ones refused until the step is written and probed.
    const json cut = driver_.standin().faults(
        {{"fail", {{"status", 503}, {"count", 1000000}, {"verb", "watch"}}},
         {"drop_watches", true}});
    check(cut.value("dropped", 0) >= static_cast<int>(3 * agents), "every watch cut", cut.dump());
    write_step(c, i, state);
    const double rv = static_cast<double>(driver_.standin().resource_version());
    std::vector<double> seen;
    for (const char* r : kResources) {
      for (double v : metric("nftpolicy_synced_resource_version", "resource", r)) seen.push_back(v);
    }
    check(every(seen, [&](double v) { return v < rv; }),
          "the agents have not seen the step (resourceVersion " + std::to_string(int64_t(rv)) + ")",
          show(seen));
    if (i > 0) expect(c, i - 1, "step written while the agents are cut off: last step's rules");
    driver_.standin().control("POST", "/_standin/reset", json::object());
    driver_.converge();
    expect(c, i, "agents back");
  }
  bool resumed = true;
  std::string detail;
  for (const char* r : kResources) {
    const auto lists = metric("nftpolicy_watch_lists_total", "resource", r);
    const auto watches = metric("nftpolicy_watch_requests_total", "resource", r);
    const double want = 1.0 + static_cast<double>(c.steps.size());  // the first + one per cut
    resumed &= every(lists, [](double v) { return v == 1; }) &&
               every(watches, [&](double v) { return v >= want; });
    detail += std::string(r) + ": lists " + show(lists) + " watches " + show(watches) + "; ";
  }
  check(resumed, c.name + ": the agents resumed their watches without a relist", detail);
}

bool FaultScenarios::wait_watches_open(size_t agents) {
  return wait_for(
      [&] {
        const json open = driver_.standin()
                              .control("GET", "/_standin/stats")
                              .value("watches_open", json::object());
        for (const char* r : kResources) {
          if (open.value(r, 0) < static_cast<int>(agents)) return false;
        }
        return true;
      },
      10s);
}

// ---- 2. a policy deleted while the agents are cut off; 410 forces a relist -----------------

void FaultScenarios::relist_after_410() {
  const cases::Case& c = find("stop-enforcing-after-delete");
  start(c);
  cases::CaseState state(c);
  write_step(c, 0, state);
  driver_.converge();
  expect(c, 0, "before the fault");
  const auto relists = metric("nftpolicy_watch_relists_total", "resource", "networkpolicies");
  const auto errors = metric("nftpolicy_watch_errors_total", "resource", "networkpolicies");
  driver_.standin().faults(
      {{"fail",
        {{"status", 500}, {"count", 1000000}, {"method", "GET"}, {"path_prefix", kPoliciesPath}}},
       {"drop_watches", true}});
  check(wait_above("nftpolicy_watch_errors_total", "resource", "networkpolicies", errors, 10s),
        "the agents' policy watches fail (500)");
  write_step(c, 1, state);  // kubectl delete networkpolicy
  driver_.standin().faults({{"compact", true}});
  const double rv = static_cast<double>(driver_.standin().resource_version());
  const auto seen = metric("nftpolicy_synced_resource_version", "resource", "networkpolicies");
  check(every(seen, [&](double v) { return v < rv; }),
        "the agents have not seen the deletion (resourceVersion " + std::to_string(int64_t(rv)) +
            " compacted)",
        show(seen));
  expect(c, 0, "policy deleted while the agents are cut off: its rules stay");
  driver_.standin().control("POST", "/_standin/reset", json::object());
  driver_.converge();
  expect(c, 1, "reconnected: 410, relist");
  const auto after = metric("nftpolicy_watch_relists_total", "resource", "networkpolicies");
  check(above(after, relists), "every agent relisted its policies after 410 Gone",
        show(relists) + " -> " + show(after) + ", stand-in expired_410=" +
            std::to_string(
                driver_.standin().control("GET", "/_standin/stats").value("expired_410", 0)));
}

// ---- 3. the API server unreachable at start, then gone and back ----------------------------

void FaultScenarios::apiserver_down() {
  const cases::Case& c = find("ingress-from-updated-pod");
  if (!cluster_.matches(c)) cluster_.create(c);
  driver_.prepare(c);
  cases::CaseState state(c);
  // The objects and step 0's policies go in, then the stand-in stops and keeps them (--state).
  driver_.start_standin();
  driver_.create_objects();
  write_step(c, 0, state);
  driver_.stop_standin();
  driver_.start_agents();
  const bool tried = wait_for(
      [&] {
        return every(metric("nftpolicy_watch_errors_total", "resource", "networkpolicies"),
                     [](double v) { return v >= 2; });
      },
      15s);
  check(tried, "agents started with no API server: they retry (watch errors counted)");
  check(table_absent_everywhere(),
        "nothing applied before the first list: no table inet nftpolicy");
  const auto not_ready = readyz();
  check(not_ready == std::vector<int>(not_ready.size(), 503), "/readyz is 503", show(not_ready));
  driver_.start_standin();
  driver_.converge();
  expect(c, 0, "API server up after the agents");
  const auto ready = readyz();
  check(ready == std::vector<int>(ready.size(), 200), "/readyz is 200", show(ready));
  const auto errors = metric("nftpolicy_watch_errors_total", "resource", "pods");
  driver_.stop_standin();
  check(wait_above("nftpolicy_watch_errors_total", "resource", "pods", errors, 15s),
        "the agents noticed the API server went away");
  expect(c, 0, "API server gone: the last good rules stay");
  driver_.start_standin();  // same address, objects, token and CA
  write_step(c, 1, state);  // a change right after it is back
  driver_.converge();
  expect(c, 1, "API server back, a change made right after");
  // Resumed (the restarted server's history starts at its resourceVersion) or relisted
  // after 410: both are right.
  std::printf("  info   how the agents came back: %s\n", list_counts().c_str());
}

std::string FaultScenarios::list_counts() {
  std::string out;
  for (const char* r : kResources) {
    out += std::string(r) + ": lists " +
           show(metric("nftpolicy_watch_lists_total", "resource", r)) + " relists " +
           show(metric("nftpolicy_watch_relists_total", "resource", r)) + "; ";
  }
  return out;
}

// ---- 4. malformed and invalid objects ------------------------------------------------------

void FaultScenarios::malformed_objects() {
  const cases::Case& c = find("default-deny-ingress");
  const cases::Case& next = find("allow-ingress-for-a-target");
  start(c);
  cases::CaseState state(c);
  write_step(c, 0, state);
  driver_.converge();
  expect(c, 0, "before the fault");
  malformed_events(c);
  const auto invalid = metric("nftpolicy_cluster_objects", "kind", "invalid");
  inject_invalid_policies(c);
  // Valid changes after the invalid objects: both go, the next case's policies come.
  driver_.kubectl_write("networkpolicies", {"delete", "networkpolicy", "-n", "y", "bad-except"});
  driver_.use_case(next);
  driver_.write_policies(next.steps[0].policies, WriteMode::server_side_apply);
  driver_.converge();
  expect(next, 0, "invalid objects deleted, other policies applied");
  const auto now = metric("nftpolicy_cluster_objects", "kind", "invalid");
  check(now == invalid, "the deleted invalid policies are no longer counted as invalid",
        show(invalid) + " before them, " + show(now) + " after");
}

// An event whose object has the wrong shape (nameless) is reported and ignored; a line that is
// not JSON ends the stream (a decode error) and the watch resumes. In this order: a watch the
// agent has just left stays registered at the stand-in for up to 0.5 s, and an event sent
// then would go to it.
void FaultScenarios::malformed_events(const cases::Case& c) {
  const size_t agents = driver_.agents().agents().size();
  for (const char* kind : {"object", "json"}) {
    const bool object = std::string(kind) == "object";
    const char* counter =
        object ? "nftpolicy_watch_events_total" : "nftpolicy_watch_decode_errors_total";
    check(wait_watches_open(agents), "every agent watches its 3 resources");
    const auto before = metric(counter, "resource", "networkpolicies");
    const json sent = driver_.standin().faults(
        {{"malformed_event", {{"resource", "networkpolicies"}, {"kind", kind}}}});
    check(sent.value("watches", 0) >= static_cast<int>(agents) &&
              wait_above(counter, "resource", "networkpolicies", before, 10s),
          std::string("every agent got a malformed event (") + kind + ")",
          sent.dump() + ", " + counter + " " + show(before) + " -> " +
              show(metric(counter, "resource", "networkpolicies")));
  }
  check(log_has_line({"malformed networkpolicies event ignored", "metadata"}),
        "every agent reports the object of the wrong shape");
  driver_.converge();
  expect(c, 0, "after an object of the wrong shape and a line that is not JSON");
}

void FaultScenarios::inject_invalid_policies(const cases::Case& c) {
  // x/deny-ingress updated to a spec the API server would refuse: its last good version stays.
  const json bad_update =
      policy_object("x", "deny-ingress",
                    {{"podSelector", json::object()},
                     {"policyTypes", {"Ingress"}},
                     {"ingress", {{{"from", {{{"ipBlock", {{"cidr", "nonsense"}}}}}}}}}});
  // A new invalid policy that would isolate namespace y if it were applied in part.
  const json bad_new = policy_object(
      "y", "bad-except",
      {{"podSelector", json::object()},
       {"policyTypes", {"Ingress"}},
       {"ingress",
        {{{"from", {{{"ipBlock", {{"cidr", "192.0.2.0/24"}, {"except", {"nonsense"}}}}}}}}}}});
  for (const json& bad : {bad_update, bad_new})
    driver_.standin().faults({{"store_raw", {{"resource", "networkpolicies"}, {"object", bad}}}});
  driver_.converge();
  expect(c, 0, "x/deny-ingress updated invalid, y/bad-except new invalid");
  check(log_has_line({"NetworkPolicy x/deny-ingress", "spec.ingress[0].from[0].ipBlock.cidr"}),
        "every agent reports the invalid update with its field path");
  check(log_has_line({"NetworkPolicy y/bad-except", "spec.ingress[0].from[0].ipBlock.except[0]"}),
        "every agent reports the new invalid policy with its field path");
}

}  // namespace e2e
