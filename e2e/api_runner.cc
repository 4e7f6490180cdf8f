#include "api_runner.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace e2e {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

std::string latency_summary(std::vector<double> secs) {
  if (secs.empty()) return "no steps";
  std::sort(secs.begin(), secs.end());
  char buf[128];
  std::snprintf(buf, sizeof buf, "p50 %.3f s, p90 %.3f s, max %.3f s over %zu steps",
                secs[(secs.size() - 1) / 2], secs[(secs.size() - 1) * 9 / 10], secs.back(),
                secs.size());
  return buf;
}

void ApiRunner::prepare(const cases::Case& c) {
  if (!cluster_.matches(c)) {
    driver_.down();  // other pods: a new cluster and a new control plane
    cluster_.create(c);
  }
  if (!driver_.is_up()) {
    driver_.up(c);
    return;
  }
  // Same pods: the previous case's policies go, its labels are put back.
  driver_.use_case(c);
  driver_.delete_all_policies();
  driver_.write_labels(cases::CaseState(c));
  driver_.converge();
  driver_.flush_conntrack();
}

bool ApiRunner::run_step(const cases::Case& c, size_t i, WriteMode mode, cases::CaseState& state,
                         CaseResult& r) {
  const cases::Step& step = c.steps[i];
  state.apply(step);
  ++r.steps;
  const auto t0 = Clock::now();
  const size_t calls = driver_.standin().kubectl_calls();
  driver_.write_labels(state);
  driver_.write_policies(step.policies, mode);
  const double writes = since(t0);
  const Convergence conv = driver_.converge();
  latencies_.push_back(conv.written);
  settled_.push_back(conv.all);
  if (prober_.verbose()) {
    std::printf(
        "  %s / %s: %zu kubectl calls (%s) in %.2f s; in both kernels %.3f s after the "
        "last one, all resourceVersions %.3f s\n",
        c.name.c_str(), step.name.c_str(), driver_.standin().kubectl_calls() - calls,
        to_string(mode), writes, conv.written, conv.all);
  }
  if (!step.external_probes.empty()) {
    std::printf("  %s / %s: %zu external probes skipped: this harness has no external hosts\n",
                c.name.c_str(), step.name.c_str(), step.external_probes.size());
    r.skipped += step.external_probes.size();
  }
  const CheckResult chk = prober_.check(c, step.name, step.probes);
  r.probes += chk.probes;
  r.skipped += chk.skipped;
  return chk.ok;
}

CaseResult ApiRunner::run_case(const cases::Case& c, size_t index) {
  CaseResult r{.name = c.name};
  if (errors_in_a_row_ >= kMaxErrorsInARow) {
    r.error = "not run: " + std::to_string(errors_in_a_row_) + " cases in a row could not be run";
    return r;
  }
  const auto t0 = Clock::now();
  const WriteMode mode = static_cast<WriteMode>(index % 3);
  try {
    prepare(c);
    cases::CaseState state(c);
    bool ok = true;
    for (size_t i = 0; i < c.steps.size() && !interrupted(); ++i)
      ok &= run_step(c, i, mode, state, r);
    r.passed = ok && !interrupted();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  if ((!r.passed && !interrupted()) || prober_.verbose()) {
    std::printf("%s", driver_.diagnostics(r.passed ? 10 : 25).c_str());
  }
  errors_in_a_row_ = r.error.empty() ? 0 : errors_in_a_row_ + 1;
  if (!r.error.empty()) driver_.down();  // the next case starts over with a new control plane
  r.seconds = since(t0);
  return r;
}

}  // namespace e2e
