// A small cluster shared by the evaluator and explanation tests, and a way to turn
// "namespace/pod" or IP-literal endpoint names into flows.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "policy/evaluator.h"
#include "test_util.h"

namespace policy::testing {

// Namespaces prod {team: a, env: prod}, dev {team: a, env: dev}, other {team: b}.
// prod/web  {app: web}    10.0.1.1 fd00::1:1  http=8080/TCP dns=53/UDP metrics=9090/TCP
// prod/db   {app: db}     10.0.1.2 fd00::1:2  sql=5432/TCP http=8081/TCP
// prod/client {app: client} 10.0.1.3
// prod/noip {app: client} Pending, no IP yet
// prod/host {app: client} hostNetwork, 192.168.0.10 (the node's address)
// prod/done {app: client} Succeeded, 10.0.1.9
// prod/v6only {app: client} fd00::1:6
// dev/client {app: client} 10.0.2.3;  dev/db {app: db} 10.0.2.2;  other/client 10.0.3.3
inline const char* kBaseCluster = R"(
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: prod, labels: {team: a, env: prod}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: dev, labels: {team: a, env: dev}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: other, labels: {team: b}}}
- apiVersion: v1
  kind: Pod
  metadata: {name: web, namespace: prod, labels: {app: web}}
  spec:
    containers:
    - name: web
      ports:
      - {name: http, containerPort: 8080}
      - {name: dns, containerPort: 53, protocol: UDP}
      - {name: metrics, containerPort: 9090, protocol: TCP}
  status: {phase: Running, podIPs: [{ip: 10.0.1.1}, {ip: 'fd00::1:1'}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: db, namespace: prod, labels: {app: db}}
  spec:
    containers:
    - {name: db, ports: [{name: sql, containerPort: 5432}, {name: http, containerPort: 8081}]}
  status: {phase: Running, podIPs: [{ip: 10.0.1.2}, {ip: 'fd00::1:2'}]}
- {apiVersion: v1, kind: Pod, metadata: {name: client, namespace: prod, labels: {app: client}},
   status: {phase: Running, podIP: 10.0.1.3}}
- {apiVersion: v1, kind: Pod, metadata: {name: noip, namespace: prod, labels: {app: client}},
   status: {phase: Pending}}
- {apiVersion: v1, kind: Pod, metadata: {name: host, namespace: prod, labels: {app: client}},
   spec: {hostNetwork: true}, status: {phase: Running, podIP: 192.168.0.10}}
- {apiVersion: v1, kind: Pod, metadata: {name: done, namespace: prod, labels: {app: client}},
   status: {phase: Succeeded, podIP: 10.0.1.9}}
- {apiVersion: v1, kind: Pod, metadata: {name: v6only, namespace: prod, labels: {app: client}},
   status: {phase: Running, podIP: 'fd00::1:6'}}
- {apiVersion: v1, kind: Pod, metadata: {name: client, namespace: dev, labels: {app: client}},
   status: {phase: Running, podIP: 10.0.2.3}}
- {apiVersion: v1, kind: Pod, metadata: {name: db, namespace: dev, labels: {app: db}},
   status: {phase: Running, podIP: 10.0.2.2}}
- {apiVersion: v1, kind: Pod, metadata: {name: client, namespace: other, labels: {app: client}},
   status: {phase: Running, podIP: 10.0.3.3}}
)";

// The base cluster plus `policies` (YAML documents).
inline LoadResult load_cluster(const std::string& policies) {
  return load(std::string(kBaseCluster) + "\n" + policies);
}

// "ns/name" names a pod of `c`; anything else is an IP address outside the cluster. Between
// two pods the flow is Evaluator::pod_flow; a pod talking to an outside address uses its own
// address of the same family.
inline Flow make_flow(const Cluster& c, const std::string& src, const std::string& dst,
                      uint16_t port, Protocol proto,
                      std::optional<common::Family> family = std::nullopt) {
  auto endpoint = [&](const std::string& s) -> Endpoint {
    if (auto ip = common::IpAddr::parse(s)) return {nullptr, ip};
    const Pod* pod = c.find_pod(s);
    EXPECT_NE(pod, nullptr) << "no pod " << s;
    return {pod, std::nullopt};
  };
  Endpoint s = endpoint(src), d = endpoint(dst);
  if (s.pod && d.pod) return Evaluator::pod_flow(*s.pod, *d.pod, port, proto, family);
  auto same_family = [](Endpoint& pod_ep, const Endpoint& other) {
    if (!pod_ep.pod || !other.ip) return;
    for (const auto& ip : pod_ep.pod->ips) {
      if (ip.family == other.ip->family) {
        pod_ep.ip = ip;
        return;
      }
    }
  };
  same_family(s, d);
  same_family(d, s);
  return Flow{.src = s, .dst = d, .port = port, .protocol = proto};
}

}  // namespace policy::testing
