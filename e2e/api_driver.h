// The API-server side of an e2e run: the stand-in as the control plane, one agent per node
// watching it, every change written with kubectl, and the wait until both agents have the
// change in the kernel (their nftpolicy_synced_resource_version gauges reach the stand-in's
// resourceVersion).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cluster.h"
#include "conformance_case.h"
#include "node_agents.h"
#include "standin.h"

namespace e2e {

// How a step's NetworkPolicies reach the API server: the write paths kubectl has.
enum class WriteMode {
  client_apply,       // kubectl apply -f (three-way strategic merge patch)
  server_side_apply,  // kubectl apply --server-side -f
  create_replace,     // kubectl create -f for new ones, kubectl replace -f for changed ones
};
const char* to_string(WriteMode m);

// Seconds from the end of the last kubectl write until every agent had in the kernel: the
// resources written (their last write's resourceVersion), and everything (the stand-in's
// resourceVersion, which the other resources reach with the next bookmark, <= 0.2 s).
struct Convergence {
  double written = 0;
  double all = 0;
};

struct ApiDriverOptions {
  std::string agent;           // nftpolicy-agent
  std::string standin_script;  // e2e/apiserver/apiserver.py
  std::string kubectl = "kubectl";
  std::string workdir;  // the run's temp dir
  bool verbose = false;
  bool keep = false;  // --keep: the last rules stay in the nodes at the end
  std::chrono::milliseconds converge_timeout{20000};
};

class ApiDriver {
 public:
  ApiDriver(Janitor& janitor, const Cluster& cluster, ApiDriverOptions opt);
  ~ApiDriver();
  ApiDriver(const ApiDriver&) = delete;
  ApiDriver& operator=(const ApiDriver&) = delete;

  // A fresh control plane for the cluster as built for `c` (new stand-in directory, nothing
  // started yet), then: the stand-in, the case's namespaces and pods, the agents, convergence.
  void prepare(const cases::Case& c);
  void up(const cases::Case& c);
  // The next case on the same pods and control plane (its labels are written separately).
  void use_case(const cases::Case& c) { case_ = &c; }
  // Agents and stand-in stopped, then (unless keep_rules) the agents' tables and conntrack
  // removed in the nodes.
  void down(bool keep_rules = false);
  bool is_up() const { return standin_ && standin_->running() && agents_->running(); }

  void start_standin() { standin_->start(); }
  void stop_standin() { standin_->stop(); }
  void start_agents() { agents_->start(); }
  void stop_agents() { agents_->stop(); }
  // Namespaces and pods with `kubectl apply`, then the pods' status (Running, the IPs the CNI
  // plugin gave) with a server-side apply of the status subresource.
  void create_objects();

  // Labels as `state` has them: `kubectl label --overwrite` per object that differs.
  void write_labels(const cases::CaseState& state);
  // The full set of policies: deletes the ones that disappear, writes the rest by `mode`.
  void write_policies(const nlohmann::json& policies, WriteMode mode);
  void delete_all_policies();
  void flush_conntrack() const;

  // Waits until every agent has the stand-in's current resourceVersion in the kernel. Throws
  // after the timeout or if an agent died (see diagnostics()).
  Convergence converge();
  // kubectl with `args`, a write of `resource` ("pods", "namespaces", "networkpolicies"):
  // converge() then also times when the agents had that write.
  void kubectl_write(const std::string& resource, const std::vector<std::string>& args);

  StandIn& standin() { return *standin_; }
  // kubectl calls and their seconds over every control plane of the run.
  size_t kubectl_calls() const;
  double kubectl_seconds() const;
  NodeAgents& agents() { return *agents_; }
  // Agents' and stand-in's log tails, for failure reports.
  std::string diagnostics(size_t lines = 25) const;
  // A file under the control plane's directory holding the objects `items` (for kubectl -f).
  std::string write_manifest(const std::string& name, const nlohmann::json& items) const;

 private:
  void label(const std::string& kind, const std::string& ns, const std::string& name,
             const nlohmann::json& want, nlohmann::json& have);
  std::string lag_report(std::uint64_t rv) const;
  std::vector<std::map<std::string, double>> synced() const;

  Janitor& janitor_;
  const Cluster& cluster_;
  ApiDriverOptions opt_;
  const cases::Case* case_ = nullptr;
  int generation_ = 0;  // numbers the control planes' directories
  std::string dir_;
  std::unique_ptr<StandIn> standin_;
  std::unique_ptr<NodeAgents> agents_;
  // What the API server holds, as written: labels by "ns/name" and namespace, and policies.
  std::map<std::string, nlohmann::json> pod_labels_, ns_labels_;
  std::map<std::string, nlohmann::json> policies_;  // "ns/name" -> the object written
  // Since the last converge(): the resourceVersion of each resource's last write, and when
  // the last write ended.
  std::map<std::string, std::uint64_t> written_;
  std::chrono::steady_clock::time_point last_write_{};
  size_t past_calls_ = 0;  // of the stand-ins stopped so far
  double past_seconds_ = 0;
};

}  // namespace e2e
