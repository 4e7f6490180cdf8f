#include "policy/lint.h"

#include <algorithm>

namespace policy {
namespace {

constexpr size_t kMaxNames = 3;

std::string name_list(const std::vector<const Pod*>& pods) {
  std::string out;
  for (size_t i = 0; i < pods.size() && i < kMaxNames; ++i) {
    out += (i ? ", " : "") + pods[i]->key();
  }
  if (pods.size() > kMaxNames) out += " and " + std::to_string(pods.size() - kMaxNames) + " more";
  return out;
}

struct Linter {
  const Evaluator& ev;
  const Cluster& c = ev.cluster();
  std::vector<Diagnostic> out;

  void warn(const NetworkPolicy& np, std::string field, std::string msg) {
    out.push_back({"", "NetworkPolicy " + np.key(), {std::move(field), std::move(msg)}});
  }

  std::vector<const Pod*> selected(const NetworkPolicy& np) const {
    std::vector<const Pod*> pods;
    for (const auto& p : c.pods) {
      if (!p.host_network && p.namespace_ == np.namespace_ && np.pod_selector.matches(p.labels)) {
        pods.push_back(&p);
      }
    }
    return pods;
  }

  std::vector<const Pod*> peer_pods(const NetworkPolicy& np, const Rule& rule) const {
    std::vector<const Pod*> pods;
    for (const auto& p : c.pods) {
      const Endpoint ep{&p, p.ips.empty() ? std::nullopt : std::optional(p.ips.front())};
      const bool any = rule.peers.empty() ||
                       std::any_of(rule.peers.begin(), rule.peers.end(), [&](const Peer& peer) {
                         return peer_matches(c, peer, np.namespace_, ep, nullptr);
                       });
      if (any) pods.push_back(&p);
    }
    return pods;
  }

  void check_peers(const NetworkPolicy& np, Direction d) {
    const auto& rules = np.rules(d);
    for (size_t r = 0; r < rules.size(); ++r) {
      for (size_t i = 0; i < rules[r].peers.size(); ++i) {
        const Peer& peer = rules[r].peers[i];
        if (peer.ip_block) continue;
        const auto field = "spec." + std::string(to_string(d)) + "[" + std::to_string(r) + "]." +
                           (d == Direction::kIngress ? "from" : "to") + "[" + std::to_string(i) +
                           "]";
        if (peer.namespace_selector &&
            std::none_of(c.namespaces.begin(), c.namespaces.end(), [&](const auto& kv) {
              return peer.namespace_selector->matches(kv.second.labels);
            })) {
          warn(np, field + ".namespaceSelector",
               "matches no namespace (`" + peer.namespace_selector->str() + "`)");
          continue;
        }
        const bool any = std::any_of(c.pods.begin(), c.pods.end(), [&](const Pod& p) {
          return peer_matches(c, peer, np.namespace_, Endpoint{&p, std::nullopt}, nullptr);
        });
        if (!any) warn(np, field, "matches no pod (" + describe_peer(peer, np.namespace_) + ")");
      }
    }
  }

  void check_named_ports(const NetworkPolicy& np, Direction d, const std::vector<const Pod*>& sel) {
    const auto& rules = np.rules(d);
    for (size_t r = 0; r < rules.size(); ++r) {
      // Ingress: the port resolves on the selected pods; egress: on the destinations.
      const auto candidates = d == Direction::kIngress ? sel : peer_pods(np, rules[r]);
      for (size_t i = 0; i < rules[r].ports.size(); ++i) {
        const auto& port = rules[r].ports[i];
        const auto* name = port.port ? std::get_if<std::string>(&*port.port) : nullptr;
        if (!name) continue;
        const bool declared = std::any_of(candidates.begin(), candidates.end(), [&](const Pod* p) {
          return std::any_of(p->ports.begin(), p->ports.end(), [&](const ContainerPort& cp) {
            return cp.name == *name && cp.protocol == port.protocol;
          });
        });
        if (declared) continue;
        warn(np,
             "spec." + std::string(to_string(d)) + "[" + std::to_string(r) + "].ports[" +
                 std::to_string(i) + "].port",
             "no " + std::string(d == Direction::kIngress ? "selected" : "destination") +
                 " pod declares a " + to_string(port.protocol) + " port named " + *name +
                 ", so this port admits nothing");
      }
    }
  }

  // Whether the pod's egress admits DNS over `proto` (to the cluster DNS pods when the input
  // has them, otherwise to any destination a rule names).
  bool dns_allowed(const Pod& pod, Protocol proto, const std::vector<const Pod*>& dns) const {
    if (!dns.empty()) {
      return std::any_of(dns.begin(), dns.end(), [&](const Pod* d) {
        return ev.evaluate(Evaluator::pod_flow(pod, *d, 53, proto)).egress.allowed;
      });
    }
    for (size_t pi : ev.isolating(pod, Direction::kEgress)) {
      for (const auto& rule : c.policies[pi].egress) {
        if (rule.ports.empty()) return true;
        Flow f{.src = {&pod, std::nullopt}, .dst = {}, .port = 53, .protocol = proto};
        for (const auto& p : rule.ports) {
          if (port_matches(p, f, f.dst, nullptr)) return true;
        }
      }
    }
    return false;
  }

  void check_dns() {
    std::vector<const Pod*> dns;
    for (const auto& p : c.pods) {
      auto it = p.labels.find("k8s-app");
      if (it != p.labels.end() && it->second == "kube-dns" && p.selectable()) dns.push_back(&p);
    }
    for (size_t pi = 0; pi < c.policies.size(); ++pi) {
      const auto& np = c.policies[pi];
      if (!np.egress_type) continue;
      std::vector<const Pod*> blocked;
      std::string which;
      for (const Pod* pod : selected(np)) {
        // Report each pod once, under the first policy that isolates its egress.
        if (ev.isolating(*pod, Direction::kEgress).front() != pi) continue;
        const bool udp = dns_allowed(*pod, Protocol::kUDP, dns);
        const bool tcp = dns_allowed(*pod, Protocol::kTCP, dns);
        if (udp && tcp) continue;
        blocked.push_back(pod);
        which = !udp && !tcp ? "UDP/53 and TCP/53" : !udp ? "UDP/53" : "TCP/53";
      }
      if (blocked.empty()) continue;
      warn(np, "spec.egress",
           "egress of " + name_list(blocked) + " is isolated and no rule allows DNS (" + which +
               (dns.empty() ? "" : " to " + name_list(dns)) +
               "): name lookups will fail unless you add an egress rule for port 53");
    }
  }

  static bool port_covers(const PolicyPort& big, const PolicyPort& small) {
    if (big.protocol != small.protocol) return false;
    if (!big.port) return true;
    if (big == small) return true;
    const auto* b = std::get_if<int32_t>(&*big.port);
    const auto* s = small.port ? std::get_if<int32_t>(&*small.port) : nullptr;
    if (!b || !s) return false;
    return *s >= *b && small.end_port.value_or(*s) <= big.end_port.value_or(*b);
  }

  static bool rule_covers(const Rule& big, const Rule& small) {
    const bool peers =
        big.peers.empty() ||
        (!small.peers.empty() &&
         std::all_of(small.peers.begin(), small.peers.end(), [&](const Peer& p) {
           return std::find(big.peers.begin(), big.peers.end(), p) != big.peers.end();
         }));
    const bool ports =
        big.ports.empty() ||
        (!small.ports.empty() &&
         std::all_of(small.ports.begin(), small.ports.end(), [&](const PolicyPort& p) {
           return std::any_of(big.ports.begin(), big.ports.end(),
                              [&](const PolicyPort& b) { return port_covers(b, p); });
         }));
    return peers && ports;
  }

  // `a` adds nothing when `b` isolates every pod `a` selects, in every direction `a` does, and
  // each rule of `a` is covered by a rule of `b`.
  bool redundant(const NetworkPolicy& a, const NetworkPolicy& b,
                 const std::vector<const Pod*>& sel_a) const {
    if (a.namespace_ != b.namespace_ || sel_a.empty()) return false;
    for (Direction d : {Direction::kIngress, Direction::kEgress}) {
      if (!a.affects(d)) continue;
      if (!b.affects(d)) return false;
      for (const auto& ra : a.rules(d)) {
        const auto& rb = b.rules(d);
        if (std::none_of(rb.begin(), rb.end(), [&](const Rule& r) { return rule_covers(r, ra); })) {
          return false;
        }
      }
    }
    return std::all_of(sel_a.begin(), sel_a.end(),
                       [&](const Pod* p) { return b.pod_selector.matches(p->labels); });
  }

  void check_redundant(const std::vector<std::vector<const Pod*>>& sel) {
    for (size_t i = 0; i < c.policies.size(); ++i) {
      for (size_t j = 0; j < c.policies.size(); ++j) {
        if (i == j || !redundant(c.policies[i], c.policies[j], sel[i])) continue;
        // Two equivalent policies: report only the later one.
        if (j > i && redundant(c.policies[j], c.policies[i], sel[j])) continue;
        warn(c.policies[i], "spec",
             "redundant: " + c.policies[j].key() +
                 " already isolates every pod this policy selects and admits everything it "
                 "admits");
        break;
      }
    }
  }

  void run() {
    if (c.pods.empty()) {
      out.push_back({"", "", {"", "the input has no pods: checks that need pods were skipped"}});
    }
    std::vector<std::vector<const Pod*>> sel;
    for (const auto& np : c.policies) {
      sel.push_back(selected(np));
      if (!c.pods.empty() && sel.back().empty()) {
        warn(np, "spec.podSelector",
             "selects no pod in namespace " + np.namespace_ + " (`" + np.pod_selector.str() + "`)");
      }
      if (c.pods.empty()) continue;
      for (Direction d : {Direction::kIngress, Direction::kEgress}) {
        check_peers(np, d);
        check_named_ports(np, d, sel.back());
      }
    }
    if (c.pods.empty()) return;
    check_dns();
    check_redundant(sel);
  }
};

}  // namespace

std::vector<Diagnostic> lint(const Evaluator& evaluator) {
  Linter l{evaluator};
  l.run();
  return std::move(l.out);
}

}  // namespace policy
