// The conformance cases driven by kubectl against the API server stand-in: per step, the
// label changes (`kubectl label`) and the step's policies (`kubectl delete`, then `kubectl
// apply`, `apply --server-side` or `create`/`replace`, by case), then the wait until both
// agents have the step in the kernel, then the same probes as the manifests runner.
#pragma once

#include <string>
#include <vector>

#include "api_driver.h"
#include "cluster.h"
#include "conformance_case.h"
#include "runner.h"

namespace e2e {

// p50 and max of a list of seconds, "p50 0.051 s, max 0.210 s over 83 steps".
std::string latency_summary(std::vector<double> secs);

class ApiRunner {
 public:
  ApiRunner(Cluster& cluster, Runner& prober, ApiDriver& driver)
      : cluster_(cluster), prober_(prober), driver_(driver) {}

  // `index` picks the write path of its policies (index mod 3, see WriteMode). After
  // kMaxErrorsInARow cases that could not be run (an agent that never converges, a stand-in
  // that does not start), the rest fail at once instead of each waiting out its timeouts.
  CaseResult run_case(const cases::Case& c, size_t index);
  static constexpr size_t kMaxErrorsInARow = 3;
  // Seconds from the last kubectl write of a step until both agents had its writes in the
  // kernel (latencies), and until their gauges reached the stand-in's resourceVersion for
  // every resource (settled: up to a bookmark interval more).
  const std::vector<double>& latencies() const { return latencies_; }
  const std::vector<double>& settled() const { return settled_; }

 private:
  // The cluster and control plane for `c`, with no policies and the case's initial labels.
  void prepare(const cases::Case& c);
  bool run_step(const cases::Case& c, size_t i, WriteMode mode, cases::CaseState& state,
                CaseResult& r);

  Cluster& cluster_;
  Runner& prober_;
  ApiDriver& driver_;
  std::vector<double> latencies_, settled_;
  size_t errors_in_a_row_ = 0;
};

}  // namespace e2e
