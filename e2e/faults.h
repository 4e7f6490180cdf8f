// Fault scenarios of the API-server mode, on the upstream-model cluster with one agent per
// node watching the stand-in. Each one probes during the fault (the last good rules must stay
// enforced) and after recovery (the agents must converge to the right state); the expected
// truth tables come from the shared cases.
//
//   drop-watches   every watch is cut, and new ones refused, while a step is written: the
//                  last step's rules stay; back, the agents resume from their resourceVersion
//                  (no relist) and converge; for label changes of pods and namespaces and
//                  for a policy update.
//   relist-410     the agents' policy watches fail while a policy is deleted and the history
//                  is compacted: while cut off they keep the policy; back, they get 410,
//                  relist and drop its rules.
//   apiserver-down the agents start before the API server (nothing applied, /readyz 503),
//                  converge once it is up; it goes away (rules stay) and comes back with the
//                  same objects; a change made right after is enforced.
//   malformed      a line that is not JSON, an object of the wrong shape, an invalid update
//                  of an enforced policy (its last good version stays) and a new invalid
//                  policy (left out, reported with its field path); then valid changes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "api_driver.h"
#include "cluster.h"
#include "conformance_case.h"
#include "runner.h"

namespace e2e {

class FaultScenarios {
 public:
  FaultScenarios(Cluster& cluster, Runner& prober, ApiDriver& driver,
                 const std::vector<cases::Case>& all)
      : cluster_(cluster), prober_(prober), driver_(driver), all_(all) {}

  // Runs the scenarios whose name contains `filter`; prints a line per check and a summary.
  // Exit code: 0 when every check passed.
  int run(const std::string& filter);

 private:
  struct Scenario {
    std::string name;
    std::function<void()> body;
  };

  void drop_watches();
  void relist_after_410();
  void apiserver_down();
  void malformed_objects();
  void drop_watches_case(const cases::Case& c);
  void malformed_events(const cases::Case& c);
  void inject_invalid_policies(const cases::Case& c);

  const cases::Case& find(const std::string& name) const;
  // A control plane for `c` with its initial labels and no policy, converged.
  void start(const cases::Case& c);
  // Step i's writes (labels, policies), then convergence.
  void write_step(const cases::Case& c, size_t i, cases::CaseState& state);
  // Probes step i's expectations of `c`; `when` says at which moment of the scenario.
  void expect(const cases::Case& c, size_t step, const std::string& when);
  void check(bool ok, const std::string& what, const std::string& detail = "");
  // A metric of every agent (-1 where absent), e.g. nftpolicy_watch_relists_total.
  std::vector<double> metric(const std::string& name, const std::string& label,
                             const std::string& value);
  // Polls until cond() holds (true) or the timeout passes (false).
  static bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout);
  // Waits until every agent's metric is above its value in `before`.
  bool wait_above(const std::string& name, const std::string& label, const std::string& value,
                  const std::vector<double>& before, std::chrono::milliseconds timeout);
  bool table_absent_everywhere() const;
  // Every agent's log has a line holding all of `parts`.
  bool log_has_line(const std::vector<std::string>& parts) const;
  std::vector<int> readyz() const;  // every agent's /readyz status
  std::string list_counts();        // every agent's lists and relists, per resource
  // Waits until the stand-in has at least `agents` open watches of each resource.
  bool wait_watches_open(size_t agents);

  Cluster& cluster_;
  Runner& prober_;
  ApiDriver& driver_;
  const std::vector<cases::Case>& all_;
  size_t checks_ = 0;
  std::vector<std::string> failures_;
};

}  // namespace e2e
