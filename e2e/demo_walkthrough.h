// The walk through examples/policies on the running cluster: per step the policy in plain
// words, `kubectl apply`, policy-dry-run's prediction from `kubectl get ns,pods,netpol -A -o
// yaml`, the agents' convergence, the matrix measured with real connections, and whether they
// agree; then an established connection cut by a change while another one keeps flowing.
#pragma once

#include <string>
#include <vector>

#include "cluster.h"
#include "demo_cluster.h"
#include "demo_control.h"
#include "demo_matrix.h"
#include "demo_network.h"
#include "demo_session.h"
#include "demo_steps.h"
#include "demo_term.h"

namespace demo {

struct WalkOptions {
  std::string examples;  // the examples directory
  std::string workdir;   // snapshots go here
  double pace = 1.0;     // seconds between steps
  MeasureOptions measure;
};

struct WalkResult {
  size_t steps = 0;
  size_t agreed = 0;
  size_t flows = 0;         // judged by both policy-dry-run and the kernel, over all steps
  bool cut_ok = false;      // the denied connection stopped, the allowed one kept flowing
  double cut_seconds = -1;  // from `kubectl apply` starting to the first unanswered message
};

class Walkthrough {
 public:
  Walkthrough(const Term& term, const ExampleCluster& ex, const e2e::Cluster& cluster,
              ControlPlane& control, const Predictor& predictor, const ExternalOptions& ext,
              WalkOptions opt);

  WalkResult run();

 private:
  void header(const std::string& title);
  void show_command(const std::string& cmd) const;
  void show_output(const std::string& out) const;
  void apply_file(const std::string& file);
  // Snapshot, prediction, measurement and comparison; true when they agree.
  bool check(const std::vector<std::string>& shown, const std::vector<ExplainedFlow>& explained,
             double converged);
  void show_prediction(const std::vector<const FlowGroup*>& shown, const Verdicts& predicted);
  void step(const Step& s);
  void cut();
  // t0/t1: `kubectl apply` started/returned; in_kernels: both agents had the change.
  bool report_cut(const Session& cut, const Session& kept, Clock::time_point t0,
                  Clock::time_point t1, Clock::time_point in_kernels);
  void show_conntrack(const std::string& from, const ExamplePod& server) const;
  void show_sync_lines(const std::vector<size_t>& log_offsets) const;
  void pause() const;

  const Term& term_;
  const ExampleCluster& ex_;
  const e2e::Cluster& cluster_;
  ControlPlane& control_;
  const Predictor& predictor_;
  WalkOptions opt_;
  std::vector<FlowGroup> groups_;
  std::vector<std::string> sources_;  // running pods, sorted
  Names names_;
  WalkResult result_;
  size_t total_steps_ = 0;
  size_t snapshots_ = 0;
};

}  // namespace demo
