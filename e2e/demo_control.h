// The demo's control plane: the API server stand-in inside node-1, kubectl next to it, and
// one nftpolicy-agent per node watching it (named as the snapshot names the nodes). After a
// change, converge() waits until every agent's nftpolicy_synced_resource_version gauges reach
// the stand-in's resourceVersion: the change is then in both kernels.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster.h"
#include "node_agents.h"
#include "standin.h"
#include "sys.h"

namespace demo {

struct ControlOptions {
  std::string agent;           // nftpolicy-agent
  std::string standin_script;  // e2e/apiserver/apiserver.py
  std::string kubectl = "kubectl";
  std::string workdir;                                // the run's temp dir
  std::map<std::string, std::string> node_names;      // "n1" -> "node-1"
  std::chrono::milliseconds converge_timeout{20000};  // then the demo fails with the logs
};

class ControlPlane {
 public:
  ControlPlane(e2e::Janitor& janitor, const e2e::Cluster& cluster, ControlOptions opt);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  void start_standin() { standin_->start(); }
  void start_agents() { agents_->start(); }

  // kubectl in node-1 with the stand-in's kubeconfig; `input` goes to its stdin (for -f -).
  e2e::RunResult kubectl(const std::vector<std::string>& args, const std::string& input = "") const;
  // The same, throwing with kubectl's stderr when it fails.
  std::string must_kubectl(const std::vector<std::string>& args,
                           const std::string& input = "") const;

  // Seconds until both agents have the stand-in's current resourceVersion in the kernel;
  // throws (with the agents' log tails) after the timeout or when an agent died.
  double converge();
  std::uint64_t resource_version() const { return standin_->resource_version(); }

  const std::vector<e2e::AgentProcess>& agents() const { return agents_->agents(); }
  // The agent's log lines written after byte `from` (see log_size()).
  std::vector<std::string> agent_log_since(size_t agent, size_t from) const;
  size_t log_size(size_t agent) const;
  std::string kubeconfig() const { return standin_->kubeconfig(); }
  std::string diagnostics() const;

 private:
  e2e::Janitor& janitor_;
  const e2e::Cluster& cluster_;
  ControlOptions opt_;
  std::string dir_;
  std::unique_ptr<e2e::StandIn> standin_;
  std::unique_ptr<e2e::NodeAgents> agents_;
};

}  // namespace demo
