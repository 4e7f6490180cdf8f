#include "latency_changes.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "conntrack/scope.h"
#include "latency_http.h"
#include "nft/diff.h"
#include "synthetic_cluster.h"

namespace bench {
namespace {

using policy::Pod;
constexpr std::uint16_t kProbePort = 8080;  // the pods' "http" port

std::vector<const Pod*> pods_on(const policy::Cluster& c, const std::string& node) {
  std::vector<const Pod*> out;
  for (const auto& p : c.pods) {
    if (p.node == node && !p.ips.empty() && p.selectable()) out.push_back(&p);
  }
  return out;
}

// The node's pods and about 200 pods of other nodes: the candidate peers of a probe.
std::vector<const Pod*> partners(const policy::Cluster& c, const std::string& node) {
  std::vector<const Pod*> out = pods_on(c, node);
  const std::size_t stride = std::max<std::size_t>(1, c.pods.size() / 200);
  for (std::size_t i = 0; i < c.pods.size(); i += stride) {
    if (c.pods[i].node != node && !c.pods[i].ips.empty()) out.push_back(&c.pods[i]);
  }
  return out;
}

FlowEnd end(const Pod& p) {
  return {&p, p.ips.front()};
}

bool ingress_isolated(const policy::Cluster& c, const Pod& pod) {
  for (const auto& np : c.policies) {
    if (np.namespace_ == pod.namespace_ && np.ingress_type && np.pod_selector.matches(pod.labels)) {
      return true;
    }
  }
  return false;
}

template <class F>
double median_ms(F&& f) {
  std::vector<double> v;
  for (int i = 0; i < 3; ++i) {
    const auto t = std::chrono::steady_clock::now();
    f();
    v.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
  }
  std::sort(v.begin(), v.end());
  return v[1];
}

void expect(Series& s, const nft::Program& program, const policy::Cluster& after,
            const std::string& node, const compiler::Options& options) {
  nft::Program changed;
  s.cost.compile_ms = median_ms([&] { changed = compiler::compile(after, node, options).program; });
  nft::Transaction tx;
  s.cost.diff_ms = median_ms([&] { tx = nft::diff(program, changed); });
  s.cost.scope_ms = median_ms([&] { (void)conntrack::scope_of_change(program, changed); });
  s.forward.expect = Expectation::of(tx);
  s.back.expect = Expectation::of(nft::diff(changed, program));
}

std::string policies_path(const std::string& ns) {
  return "/apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies";
}

std::string pod_path(const Pod& p) {
  return "/api/v1/namespaces/" + p.namespace_ + "/pods/" + p.name;
}

// Deny all ingress to the pods with the labels of `pod` in its namespace.
policy::NetworkPolicy deny_ingress(const Pod& pod) {
  return {.namespace_ = pod.namespace_,
          .name = "bench-latency",
          .pod_selector = {.match_labels = pod.labels},
          .ingress_type = true,
          .egress_type = false,
          .policy_types_explicit = true};
}

// Allow `client` (by its labels and namespace) to reach the pods like `server` on the port.
policy::NetworkPolicy allow_ingress(const Pod& server, const Pod& client) {
  auto np = deny_ingress(server);
  const policy::LabelSelector ns{
      .match_labels = {{"kubernetes.io/metadata.name", client.namespace_}}};
  np.ingress.push_back(
      {.peers = {{.pod_selector = policy::LabelSelector{.match_labels = client.labels},
                  .namespace_selector = ns}},
       .ports = {{.protocol = policy::Protocol::kTCP, .port = kProbePort}}});
  return np;
}

struct PolicyChoice {
  policy::NetworkPolicy np;
  std::optional<ProbePair> probe;
  bool allows = false;  // the policy opens the probe's connection (else it closes it)
};

// A policy whose creation flips a connection on the node: preferably a deny-all on a pod
// no policy isolates yet (something it was allowed is cut), else an allow on an isolated pod.
std::optional<PolicyChoice> flipping_policy(const policy::Cluster& base, const std::string& node,
                                            bool allow) {
  const auto peers = partners(base, node);
  for (const Pod* s : pods_on(base, node)) {
    if (!allow && ingress_isolated(base, *s)) continue;  // a deny-all would change nothing
    for (const Pod* c : peers) {
      if (c == s || node_allows(base, end(*c), end(*s), kProbePort, node) == allow) continue;
      policy::Cluster with = {.namespaces = base.namespaces, .policies = base.policies};
      with.policies.push_back(allow ? allow_ingress(*s, *c) : deny_ingress(*s));
      if (node_allows(with, end(*c), end(*s), kProbePort, node) != allow) continue;
      return PolicyChoice{with.policies.back(),
                          ProbePair{c->key(), s->key(), c->ips.front(), s->ips.front()}, allow};
    }
  }
  return std::nullopt;
}

Series policy_series(const policy::Cluster& base, const nft::Program& program,
                     const std::string& node, const compiler::Options& options) {
  auto choice = flipping_policy(base, node, false);
  if (!choice) choice = flipping_policy(base, node, true);
  if (!choice) choice = PolicyChoice{deny_ingress(*pods_on(base, node).front()), {}, false};
  const auto& np = choice->np;
  Series s{.kind = "policy",
           .what = "NetworkPolicy " + np.key() +
                   (choice->allows ? " (allow one peer on 8080)" : " (deny all ingress)") +
                   " selecting " + np.pod_selector.str(),
           .forward = {.name = "policy created",
                       .request = HttpConnection::format("POST", policies_path(np.namespace_),
                                                         policy_json(np).dump()),
                       .allowed_after = choice->allows},
           .back = {.name = "policy deleted",
                    .request = HttpConnection::format(
                        "DELETE", policies_path(np.namespace_) + "/" + np.name, ""),
                    .allowed_after = !choice->allows},
           .probe = choice->probe};
  policy::Cluster after = base;
  after.policies.push_back(np);
  after.finalize();
  expect(s, program, after, node, options);
  return s;
}

std::string relabel_request(const Pod& p, const std::string& app) {
  const nlohmann::json patch = {{"metadata", {{"labels", {{"app", app}}}}}};
  return HttpConnection::format("PATCH", pod_path(p), patch.dump(), "application/merge-patch+json");
}

Series relabel_series(const policy::Cluster& base, const nft::Program& program,
                      const std::string& node, const compiler::Options& options) {
  const auto pods = pods_on(base, node);
  const auto peers = partners(base, node);
  const Pod* target = nullptr;
  std::string app;
  std::optional<ProbePair> probe;
  bool allowed_after = false;
  for (const Pod* r : pods) {
    for (int a = 0; a < 5 && !probe; ++a) {
      Pod moved = *r;
      moved.labels["app"] = "app-" + std::to_string(a);
      if (moved.labels == r->labels) continue;
      if (!target) {  // without a probe pair: the first relabel
        target = r;
        app = moved.labels["app"];
      }
      for (const Pod* p : peers) {
        if (p == r) continue;
        for (bool out : {true, false}) {  // r as client, then as server
          const FlowEnd c = out ? end(*r) : end(*p), s = out ? end(*p) : end(*r);
          const FlowEnd c2 = out ? end(moved) : c, s2 = out ? s : end(moved);
          const bool before = node_allows(base, c, s, kProbePort, node);
          const bool after = node_allows(base, c2, s2, kProbePort, node);
          if (before == after) continue;
          target = r;
          app = moved.labels["app"];
          allowed_after = after;
          probe = ProbePair{c.pod->key(), s.pod->key(), c.ip, s.ip};
          break;
        }
        if (probe) break;
      }
    }
    if (probe) break;
  }
  const std::string old_app = target->labels.count("app") ? target->labels.at("app") : "";
  Series s{.kind = "relabel",
           .what = "pod " + target->key() + " of the node relabelled app=" + old_app +
                   " -> app=" + app + " and back",
           .forward = {.name = "pod relabelled",
                       .request = relabel_request(*target, app),
                       .allowed_after = allowed_after},
           .back = {.name = "pod relabelled back",
                    .request = relabel_request(*target, old_app),
                    .allowed_after = !allowed_after},
           .probe = probe};
  policy::Cluster after = base;
  for (auto& p : after.pods) {
    if (p.key() == target->key()) p.labels["app"] = app;
  }
  expect(s, program, after, node, options);
  return s;
}

Series pod_series(const policy::Cluster& base, const nft::Program& program, const std::string& node,
                  const compiler::Options& options) {
  const auto pods = pods_on(base, node);
  std::string other = "node-other";
  for (const auto& p : base.pods) {
    if (p.node != node && !p.node.empty()) {
      other = p.node;
      break;
    }
  }
  int namespaces = 0;
  for (const auto& [name, ns] : base.namespaces) namespaces += name.rfind("ns-", 0) == 0;
  std::mt19937 rnd(7);
  std::optional<Pod> chosen;
  std::optional<ProbePair> probe;
  const int first = static_cast<int>(base.pods.size());
  for (int i = first; i < first + 100 && !probe; ++i) {
    Pod x = synthetic_pod(i, std::max(1, namespaces), rnd);
    x.node = other;
    x.name = "bench-pod-" + std::to_string(i);
    if (!chosen) chosen = x;
    for (const Pod* s : pods) {
      if (node_allows(base, {nullptr, x.ips.front()}, end(*s), kProbePort, node) ||
          !node_allows(base, end(x), end(*s), kProbePort, node)) {
        continue;
      }
      chosen = x;
      probe = ProbePair{x.key(), s->key(), x.ips.front(), s->ips.front()};
      break;
    }
  }
  const Pod& x = *chosen;
  Series s{.kind = "pod",
           .what = "pod " + x.key() + " (" + x.ips.front().str() + ", " + x.node + ", " +
                   "app=" + x.labels.at("app") + ") added, then deleted",
           .forward = {.name = "pod added (other node)",
                       .request = store_raw_request("pods", pod_json(x)),
                       .allowed_after = true},
           .back = {.name = "pod deleted (other node)",
                    .request =
                        HttpConnection::format("DELETE", pod_path(x) + "?gracePeriodSeconds=0", ""),
                    .allowed_after = false},
           .probe = probe};
  policy::Cluster after = base;
  after.pods.push_back(x);
  after.finalize();
  expect(s, program, after, node, options);
  return s;
}

}  // namespace

std::vector<Series> plan_series(const policy::Cluster& base, const nft::Program& program,
                                const std::string& node, const compiler::Options& options) {
  return {policy_series(base, program, node, options), relabel_series(base, program, node, options),
          pod_series(base, program, node, options)};
}

}  // namespace bench
