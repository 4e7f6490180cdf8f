// One long-running nftpolicy-agent per node namespace, in API-server mode, each serving
// /metrics and /readyz on 127.0.0.1 inside its node (read through a thread that enters it).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "cluster.h"
#include "http_client.h"
#include "sys.h"

namespace e2e {

struct AgentOptions {
  std::string binary;      // nftpolicy-agent
  std::string kubeconfig;  // the stand-in's
  std::string logdir;      // agent-<node>.log goes here
  int port = 9745;         // /metrics, /healthz, /readyz on 127.0.0.1:<port>
  // The agent's --node per harness node ("n1" -> "node-1"); absent: the harness name.
  std::map<std::string, std::string> node_names;
};

struct AgentProcess {
  std::string node;  // "n1"
  std::string netns;
  int netns_fd = -1;
  std::string log;
  pid_t pid = -1;
  std::string exit;  // why it is no longer running ("exited 1"), when it stopped by itself
};

// Metric samples of one scrape: `name{label="value"}` (as printed) -> value.
using Samples = std::map<std::string, double>;

class NodeAgents {
 public:
  NodeAgents(Janitor& janitor, const Cluster& cluster, AgentOptions opt);
  ~NodeAgents();
  NodeAgents(const NodeAgents&) = delete;
  NodeAgents& operator=(const NodeAgents&) = delete;

  void start();  // one per node of the cluster (its log is appended to, across restarts)
  void stop();   // SIGTERM: the agents leave their rules in place
  void signal_all(int sig);  // SIGSTOP / SIGCONT
  bool running() const { return !agents_.empty(); }
  // Empty while every agent runs, else which one stopped and how (reaps it).
  std::string check_alive();

  const std::vector<AgentProcess>& agents() const { return agents_; }
  HttpResponse get(size_t agent, const std::string& path) const;
  Samples metrics(size_t agent) const;  // throws when the scrape fails
  // The value of `name{label="value"}` in a scrape; -1 when absent.
  static double sample(const Samples& s, const std::string& name, const std::string& label,
                       const std::string& value);
  // The last lines of every agent's log (also after stop()), for failure reports.
  std::string log_tails(size_t lines) const;

 private:
  Janitor& janitor_;
  const Cluster& cluster_;
  AgentOptions opt_;
  std::vector<AgentProcess> agents_;
  std::vector<std::pair<std::string, std::string>> logs_;  // node, log file; kept after stop()
};

}  // namespace e2e
