// Runs conformance cases against the kernel: per step, hand the manifests to the agent in
// every node namespace, then probe every ordered pair of pods through pod IPs and ClusterIPs
// and compare with the case's expectations.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cluster.h"
#include "conformance_case.h"
#include "prober.h"

namespace e2e {

struct RunnerOptions {
  std::string agent;         // nftpolicy-agent binary; unused with no_enforcer
  std::string workdir;       // where each step's manifests are written for the agent
  bool no_enforcer = false;  // plumbing: drop every policy, expect every pair to connect
  bool verbose = false;
  ProberOptions prober;
  std::chrono::milliseconds agent_timeout{60000};
};

struct CaseResult {
  std::string name;
  bool passed = false;
  size_t steps = 0;
  size_t probes = 0;   // single connection attempts judged (pairs x targets x probes)
  size_t skipped = 0;  // probe specs not run: SCTP, external hosts
  double seconds = 0;
  std::string error;  // setup/agent failure; probe mismatches are printed as tables
};

struct CheckResult {
  bool ok = true;
  size_t probes = 0;
  size_t skipped = 0;
};

class Runner {
 public:
  Runner(Cluster& cluster, RunnerOptions opt) : cluster_(cluster), opt_(std::move(opt)) {}

  CaseResult run_case(const cases::Case& c);
  // Probes every ordered pair of distinct pods for each probe, via pod IPs and ClusterIPs;
  // prints a truth table per probe and target kind that differs from the expectation.
  CheckResult check(const cases::Case& c, const std::string& label,
                    const std::vector<cases::Probe>& probes);
  // Deletes the agent's table and the conntrack entries in every node, so cases start clean.
  void reset_nodes() const;
  bool verbose() const { return opt_.verbose; }

 private:
  std::string run_agent(const cases::Case& c, size_t step, const nlohmann::json& manifests) const;
  bool run_step(const cases::Case& c, size_t step, cases::CaseState& state, CaseResult& r);

  Cluster& cluster_;
  RunnerOptions opt_;
};

// Plumbing expectations: every TCP/UDP port the pods serve, in every family they have, with
// nothing denied.
std::vector<cases::Probe> all_allowed_probes(const cases::Case& c);
std::string file_safe(const std::string& s);

}  // namespace e2e
