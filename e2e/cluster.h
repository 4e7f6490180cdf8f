// The e2e cluster: two node network namespaces joined by a veth underlay with host-gw routes,
// pods as network namespaces wired by the real CNI bridge plugin (host-local IPAM, fixed IPs),
// a pod_server in every pod and a kube-proxy-like DNAT table per node for the pods' ClusterIPs.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "conformance_case.h"
#include "sys.h"

namespace e2e {

struct ClusterOptions {
  std::string pod_server;  // path of the pod_server binary
  std::string cni_bin = "/usr/lib/cni";
  bool keep = false;  // pod servers outlive the runner (for --keep)
};

struct PodInfo {
  cases::CasePod spec;
  std::string netns;  // full namespace name
  int netns_fd = -1;  // for probes: setns() into it
  pid_t server = -1;
  std::string container_id;
  std::vector<std::string> service_ips;  // ClusterIPs, in the order (and families) of spec.ips
};

struct NodeInfo {
  std::string name;   // "n1"
  std::string netns;  // full namespace name
  int index = 0;      // 1 or 2: picks the subnets and the underlay address
};

class Cluster {
 public:
  Cluster(Janitor& janitor, ClusterOptions opt);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Builds the namespaces, pods, servers and ClusterIPs of a case's cluster (throws on failure).
  void create(const cases::Case& c);
  // CNI DEL for every pod (as kubelet does), then removes servers and namespaces.
  void destroy();
  bool up() const { return !nodes_.empty(); }
  // Same pods, nodes, IPs and ports: a case with this cluster can reuse it as it is.
  bool matches(const cases::Case& c) const;

  const std::vector<NodeInfo>& nodes() const { return nodes_; }
  const PodInfo& pod(const std::string& key) const { return pods_.at(key); }
  const std::map<std::string, PodInfo>& pods() const { return pods_; }
  // The bridge plugin's ADD or DEL for a pod sandbox (`pod.netns`, `pod.container_id`,
  // `pod.spec`'s node and IPs), as a container runtime calls it; also for sandboxes a test
  // makes itself (a new pod taking over an address).
  RunResult cni(const PodInfo& pod, const std::string& command) const;
  // ADD, and a check that the plugin gave exactly the pod's IPs (throws otherwise).
  void cni_add(const PodInfo& pod) const;
  // A human-readable map of what was built (printed with --keep and -v).
  std::string describe() const;

 private:
  void create_nodes();
  void create_pod(const cases::CasePod& p, size_t index);
  std::string cni_config(const PodInfo& pod) const;
  void start_server(PodInfo& pod);
  void install_services() const;
  const NodeInfo& node(const std::string& name) const;

  Janitor& janitor_;
  ClusterOptions opt_;
  std::string signature_;
  std::vector<NodeInfo> nodes_;
  std::map<std::string, PodInfo> pods_;
};

// Subnets of node index k (1-based): 10.244.k.0/24 and fd00:10:244:k::/64.
std::string node_subnet(int index, bool v6);
bool is_v6(const std::string& ip);
// The pod's IP of a family ("IPv4", "IPv6"; empty = its first IP); empty if it has none.
std::string ip_of_family(const std::vector<std::string>& ips, const std::string& family);

}  // namespace e2e
