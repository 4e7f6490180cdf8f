// The cluster of examples/cluster.yaml as the demo builds it: its pods (with short names for
// the matrices), the objects written to the API server with kubectl (without the fields only
// a server sets), the pods' status for the status subresource, and the harness case that
// wires the running pods into the two node namespaces.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "conformance_case.h"

namespace demo {

struct ExamplePod {
  std::string key;         // "shop/web-7c9d8-abcde"
  std::string ns, name;    // "shop", "web-7c9d8-abcde"
  std::string short_name;  // "web-abcde": rows and columns of the matrices
  std::string node;        // spec.nodeName: "node-1"
  std::string ip;          // status.podIP ("" when it has none)
  nlohmann::json labels = nlohmann::json::object();
  std::vector<cases::PortDecl> ports;  // the containers' declared ports
  bool host_network = false;
  std::string phase;  // status.phase

  // A pod the demo starts: not hostNetwork (that one is the node itself), not finished.
  bool runs() const { return !host_network && phase != "Succeeded" && phase != "Failed"; }
  bool serves(int port, const std::string& protocol) const;
  // "http 8080/TCP, metrics 9090/TCP"
  std::string ports_text() const;
};

struct ExampleCluster {
  std::vector<std::string> nodes;                     // Kubernetes node names, sorted (two)
  std::map<std::string, std::string> host_ips;        // node -> the hostIP its pods report
  std::vector<ExamplePod> pods;                       // sorted by key, as policy-dry-run sorts
  nlohmann::json objects = nlohmann::json::array();   // Namespaces and Pods for kubectl apply
  nlohmann::json statuses = nlohmann::json::array();  // Pods' status subresource

  const ExamplePod& pod(const std::string& key) const;  // throws when absent
  std::vector<const ExamplePod*> running() const;
  // The harness's node name of a Kubernetes node: the first sorted node is n1, then n2.
  std::string harness_node(const std::string& node) const;
};

// Reads a cluster snapshot (a v1 List or YAML documents of Namespaces and Pods). Throws with
// the reason when it cannot be used (not two nodes, a pod without an IP, ...).
ExampleCluster load_example_cluster(const std::string& file);

// The harness case of the running pods: on n1/n2, serving their declared ports except those
// in `not_served` ("payments/api-0 8080/TCP"), which the demo serves itself.
cases::Case harness_case(const ExampleCluster& ex, const std::set<std::string>& not_served);

}  // namespace demo
