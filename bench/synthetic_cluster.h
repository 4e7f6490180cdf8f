// A synthetic cluster of realistic shape for benchmarks (the same shapes as
// make_snapshot.py): namespaces of ~50 pods, 5 apps per namespace, 100 pods per node, and
// policies of five kinds: default deny, allow from the same app, allow from other teams'
// namespaces on a named port, egress to a CIDR with except on a port range, egress DNS.
#pragma once

#include <random>
#include <string>

#include "policy/cluster.h"

namespace bench {

inline policy::Pod synthetic_pod(int p, int namespaces, std::mt19937& rnd) {
  const std::string ip = "10." + std::to_string((p >> 16) & 255) + "." +
                         std::to_string((p >> 8) & 255) + "." + std::to_string(p & 255);
  static const char* kTiers[] = {"web", "api", "db"};
  return policy::Pod{
      .namespace_ = "ns-" + std::to_string(p % namespaces),
      .name = "pod-" + std::to_string(p),
      .labels = {{"app", "app-" + std::to_string(p % 5)}, {"tier", kTiers[rnd() % 3]}},
      .node = "node-" + std::to_string(p / 100),
      .phase = "Running",
      .ips = {*common::IpAddr::parse(ip)},
      .ports = {{"http", 8080, policy::Protocol::kTCP}, {"metrics", 9090, policy::Protocol::kTCP}}};
}

inline policy::NetworkPolicy synthetic_policy(int k, int namespaces, std::mt19937& rnd) {
  using policy::LabelSelector;
  policy::NetworkPolicy np{.namespace_ = "ns-" + std::to_string(k % namespaces),
                           .name = "pol-" + std::to_string(k)};
  const LabelSelector app{.match_labels = {{"app", "app-" + std::to_string(k % 5)}}};
  np.pod_selector = app;
  switch (k % 5) {
    case 0:
      np.pod_selector = {};
      break;
    case 1:
      np.ingress.push_back({.peers = {{.pod_selector = app}}});
      break;
    case 2:
      np.ingress.push_back(
          {.peers = {{.namespace_selector =
                          LabelSelector{
                              .match_labels = {{"team", "t" + std::to_string(rnd() % 7)}}}}},
           .ports = {{.protocol = policy::Protocol::kTCP, .port = std::string("http")}}});
      break;
    case 3: {
      policy::IpBlock b{.cidr = common::Cidr::parse("10.0.0.0/16")->cidr,
                        .except = {common::Cidr::parse("10.0.1.0/24")->cidr},
                        .cidr_text = "10.0.0.0/16"};
      np.egress.push_back(
          {.peers = {{.ip_block = b}},
           .ports = {{.protocol = policy::Protocol::kTCP, .port = 8080, .end_port = 8090}}});
      np.ingress_type = false;
      np.egress_type = true;
      break;
    }
    default:
      np.egress.push_back({.peers = {{.namespace_selector = LabelSelector{}}},
                           .ports = {{.protocol = policy::Protocol::kUDP, .port = 53}}});
      np.ingress_type = false;
      np.egress_type = true;
  }
  np.policy_types_explicit = true;
  return np;
}

inline policy::Cluster synthetic_cluster(int pods, int policies, unsigned seed = 1) {
  std::mt19937 rnd(seed);
  const int namespaces = std::max(1, pods / 50);
  policy::Cluster c;
  for (int i = 0; i < namespaces; ++i) {
    const std::string name = "ns-" + std::to_string(i);
    c.namespaces[name] = {
        .name = name,
        .labels = {{"team", "t" + std::to_string(i % 7)}, {"kubernetes.io/metadata.name", name}}};
  }
  for (int p = 0; p < pods; ++p) c.pods.push_back(synthetic_pod(p, namespaces, rnd));
  for (int k = 0; k < policies; ++k) c.policies.push_back(synthetic_policy(k, namespaces, rnd));
  c.finalize();
  return c;
}

}  // namespace bench
