// What the demo adds to the harness's two-node cluster: the nodes' own addresses from the
// snapshot (the hostNetwork kube-proxy pod is the node itself), and an "external" network
// namespace standing for the card processor's network, reachable from the pods through
// node-1. Everything lives in the run's namespaces; the root namespace is never touched.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "cluster.h"
#include "demo_cluster.h"
#include "sys.h"

namespace demo {

// Gives each node namespace the hostIP its pods report (192.168.0.11/24 on node-1's underlay).
void add_host_ips(const e2e::Cluster& cluster, const ExampleCluster& ex);

struct ExternalOptions {
  std::string pod_server;        // serves the port and answers with `name`
  std::vector<std::string> ips;  // 203.0.113.10, 203.0.113.200
  std::string cidr;              // routed to it from both nodes: 203.0.113.0/24
  int port = 443;                // TCP
  std::string name = "card-processor";
};

class ExternalNetwork {
 public:
  ExternalNetwork(e2e::Janitor& janitor, const e2e::Cluster& cluster, ExternalOptions opt);
  ~ExternalNetwork();
  ExternalNetwork(const ExternalNetwork&) = delete;
  ExternalNetwork& operator=(const ExternalNetwork&) = delete;

  // The namespace, a veth to node-1 (192.168.78.1 <-> .2), the addresses, routes both ways,
  // and the server (throws on failure).
  void create();
  void destroy();
  const std::string& netns() const { return netns_; }
  const ExternalOptions& options() const { return opt_; }

 private:
  void start_server();

  e2e::Janitor& janitor_;
  const e2e::Cluster& cluster_;
  ExternalOptions opt_;
  std::string netns_;
  int netns_fd_ = -1;
  pid_t server_ = -1;
};

}  // namespace demo
