#include "policy/evaluator.h"

#include <algorithm>

namespace policy {
namespace {

std::string labels_str(const Labels& l) {
  std::string out;
  for (const auto& [k, v] : l) out += (out.empty() ? "" : ",") + k + "=" + v;
  return "{" + out + "}";
}

size_t dir_index(Direction d) {
  return d == Direction::kIngress ? 0 : 1;
}

const char* peers_field(Direction d) {
  return d == Direction::kIngress ? "from" : "to";
}

}  // namespace

std::string Endpoint::str() const {
  if (pod) return pod->key();
  return ip ? ip->str() : "<nothing>";
}

std::string describe_peer(const Peer& peer, const std::string& ns) {
  if (peer.ip_block) {
    std::string out = "ipBlock " + peer.ip_block->cidr.str();
    for (size_t i = 0; i < peer.ip_block->except.size(); ++i) {
      out += (i == 0 ? " except " : ", ") + peer.ip_block->except[i].str();
    }
    return out;
  }
  const std::string pods =
      peer.pod_selector ? "pods matching `" + peer.pod_selector->str() + "`" : "all pods";
  if (peer.namespace_selector) {
    return pods + " in namespaces matching `" + peer.namespace_selector->str() + "`";
  }
  return pods + " in namespace " + ns;
}

std::string describe_port(const PolicyPort& p) {
  const std::string proto = to_string(p.protocol);
  if (!p.port) return "all " + proto + " ports";
  if (const auto* name = std::get_if<std::string>(&*p.port)) return proto + " port named " + *name;
  const auto n = std::to_string(std::get<int32_t>(*p.port));
  if (p.end_port) return proto + " " + n + "-" + std::to_string(*p.end_port);
  return proto + " " + n;
}

bool peer_matches(const Cluster& c, const Peer& peer, const std::string& ns, const Endpoint& ep,
                  std::string* why) {
  auto fail = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  if (peer.ip_block) {
    if (!ep.ip) return fail(ep.str() + " has no IP: ipBlock rules can only match pods with IPs");
    if (!peer.ip_block->cidr.contains(*ep.ip)) {
      return fail(ep.ip->str() + " is outside " + peer.ip_block->cidr.str());
    }
    for (const auto& e : peer.ip_block->except) {
      if (e.contains(*ep.ip)) return fail(ep.ip->str() + " is in the except range " + e.str());
    }
    return true;
  }
  if (!ep.pod) return fail(ep.str() + " is not a pod; selectors match pods only");
  const Pod& pod = *ep.pod;
  if (pod.host_network) return fail(pod.key() + " uses hostNetwork; selectors never match it");
  if (pod.finished()) return fail(pod.key() + " has finished (" + pod.phase + ")");
  if (peer.namespace_selector) {
    if (!peer.namespace_selector->matches(c.namespace_labels(pod.namespace_))) {
      return fail("namespace " + pod.namespace_ + " " +
                  labels_str(c.namespace_labels(pod.namespace_)) + " does not match `" +
                  peer.namespace_selector->str() + "`");
    }
  } else if (pod.namespace_ != ns) {
    return fail("a podSelector alone selects pods in namespace " + ns + " only; " + pod.key() +
                " is in " + pod.namespace_);
  }
  if (peer.pod_selector && !peer.pod_selector->matches(pod.labels)) {
    return fail("labels of " + pod.key() + " " + labels_str(pod.labels) + " do not match `" +
                peer.pod_selector->str() + "`");
  }
  return true;
}

bool port_matches(const PolicyPort& p, const Flow& flow, const Endpoint& dst, std::string* why) {
  auto fail = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  if (p.protocol != flow.protocol) return fail(std::string("protocol is ") + to_string(p.protocol));
  if (!p.port) return true;
  if (const auto* num = std::get_if<int32_t>(&*p.port)) {
    const int32_t end = p.end_port.value_or(*num);
    if (flow.port >= *num && flow.port <= end) return true;
    return fail("port " + std::to_string(flow.port) + " is not " +
                (p.end_port ? "in " + std::to_string(*num) + "-" + std::to_string(end)
                            : std::to_string(*num)));
  }
  const auto& name = std::get<std::string>(*p.port);
  // A named port resolves against the destination pod's container ports (name AND protocol).
  if (!dst.pod)
    return fail("named port " + name + " cannot resolve on " + dst.str() + ", not a pod");
  for (const auto& cp : dst.pod->ports) {
    if (cp.name != name || cp.protocol != p.protocol) continue;
    if (cp.port == flow.port) return true;
    return fail("named port " + name + " is " + std::to_string(cp.port) + " on " + dst.pod->key());
  }
  return fail(dst.pod->key() + " declares no " + to_string(p.protocol) + " port named " + name);
}

Evaluator::Evaluator(const Cluster& cluster) : cluster_(cluster) {
  for (auto& v : isolating_) v.resize(cluster.pods.size());
  for (size_t pi = 0; pi < cluster.policies.size(); ++pi) {
    const auto& np = cluster.policies[pi];
    for (size_t i = 0; i < cluster.pods.size(); ++i) {
      const Pod& pod = cluster.pods[i];
      // hostNetwork pods are the node itself: policies do not isolate them.
      if (pod.host_network || pod.namespace_ != np.namespace_) continue;
      if (!np.pod_selector.matches(pod.labels)) continue;
      if (np.ingress_type) isolating_[0][i].push_back(pi);
      if (np.egress_type) isolating_[1][i].push_back(pi);
    }
  }
}

const std::vector<size_t>& Evaluator::isolating(const Pod& pod, Direction d) const {
  static const std::vector<size_t> kNone;
  const Pod* base = cluster_.pods.data();
  if (&pod < base || &pod >= base + cluster_.pods.size()) return kNone;
  return isolating_[dir_index(d)][static_cast<size_t>(&pod - base)];
}

Flow Evaluator::pod_flow(const Pod& src, const Pod& dst, uint16_t port, Protocol proto,
                         std::optional<common::Family> family) {
  Flow f{.src = {&src, std::nullopt}, .dst = {&dst, std::nullopt}, .port = port, .protocol = proto};
  auto pick = [](const Pod& p, common::Family fam) -> std::optional<common::IpAddr> {
    for (const auto& ip : p.ips) {
      if (ip.family == fam) return ip;
    }
    return std::nullopt;
  };
  for (auto fam : {common::Family::kV4, common::Family::kV6}) {
    if (family && *family != fam) continue;
    auto s = pick(src, fam);
    auto d = pick(dst, fam);
    if (s && d) {
      f.src.ip = s;
      f.dst.ip = d;
      return f;
    }
    if (family) {
      f.src.ip = s;
      f.dst.ip = d;
    }
  }
  if (!family) {  // no common family: each keeps its own first address, if any
    if (!src.ips.empty()) f.src.ip = src.ips.front();
    if (!dst.ips.empty()) f.dst.ip = dst.ips.front();
  }
  return f;
}

bool Evaluator::rule_matches(const NetworkPolicy& np, const Rule& rule, const Flow& flow,
                             Direction d, RuleVerdict* why) const {
  const Endpoint& peer_ep = d == Direction::kIngress ? flow.src : flow.dst;
  const std::string field = peers_field(d);
  int peer = -1;
  std::string peer_why;
  for (size_t i = 0; i < rule.peers.size() && peer < 0; ++i) {
    std::string r;
    if (peer_matches(cluster_, rule.peers[i], np.namespace_, peer_ep, why ? &r : nullptr)) {
      peer = static_cast<int>(i);
    } else if (why) {
      peer_why += (peer_why.empty() ? "" : "; ") + field + "[" + std::to_string(i) + "]: " + r;
    }
  }
  if (!rule.peers.empty() && peer < 0) {
    if (why) why->reason = "no peer matches " + peer_ep.str() + " (" + peer_why + ")";
    return false;
  }
  int port = -1;
  std::string port_why;
  for (size_t i = 0; i < rule.ports.size() && port < 0; ++i) {
    std::string r;
    if (port_matches(rule.ports[i], flow, flow.dst, why ? &r : nullptr)) {
      port = static_cast<int>(i);
    } else if (why) {
      port_why += (port_why.empty() ? "" : "; ") + std::string("ports[") + std::to_string(i) +
                  "] " + describe_port(rule.ports[i]) + ": " + r;
    }
  }
  if (why) {
    why->peer = peer;
    why->port = port;
    const std::string who =
        peer < 0 ? "everyone (no `" + field + "`)"
                 : field + "[" + std::to_string(peer) + "] " +
                       describe_peer(rule.peers[static_cast<size_t>(peer)], np.namespace_) +
                       " includes " + peer_ep.str();
    const std::string what =
        std::string(to_string(flow.protocol)) + "/" + std::to_string(flow.port);
    if (!rule.ports.empty() && port < 0) {
      why->reason = who + ", but no port admits " + what + " (" + port_why + ")";
      return false;
    }
    why->matched = true;
    why->reason = who + "; " +
                  (port < 0 ? "all ports (no `ports`)"
                            : "ports[" + std::to_string(port) + "] " +
                                  describe_port(rule.ports[static_cast<size_t>(port)])) +
                  " admits " + what;
  }
  return rule.ports.empty() || port >= 0;
}

SideVerdict Evaluator::judge(const Flow& flow, Direction d, bool explain) const {
  SideVerdict side{.direction = d};
  const Endpoint& subject = d == Direction::kIngress ? flow.dst : flow.src;
  const char* dir = to_string(d);
  if (!subject.pod) {
    side.summary = subject.str() + " is outside the cluster: no policy governs its " + dir;
    return side;
  }
  if (subject.pod->host_network) {
    side.summary = subject.pod->key() + " uses hostNetwork: policies do not isolate it";
    return side;
  }
  const auto& policies = isolating(*subject.pod, d);
  if (policies.empty()) {
    side.summary = "no policy selects " + subject.pod->key() + " for " + dir +
                   ", so it is not isolated: all " + dir + " is allowed";
    return side;
  }
  side.isolated = true;
  side.allowed = false;
  for (size_t pi : policies) {
    const NetworkPolicy& np = cluster_.policies[pi];
    if (explain) side.isolating.push_back(np.key());
    const auto& rules = np.rules(d);
    for (size_t ri = 0; ri < rules.size(); ++ri) {
      RuleVerdict rv;
      if (explain) {
        rv.policy = np.key();
        rv.rule = ri;
      }
      const bool ok = rule_matches(np, rules[ri], flow, d, explain ? &rv : nullptr);
      side.allowed = side.allowed || ok;
      if (!explain && ok) return side;
      if (explain) side.rules.push_back(std::move(rv));
    }
  }
  if (explain) {
    side.summary = subject.pod->key() + " is isolated for " + dir + " by " +
                   std::to_string(side.isolating.size()) + " " +
                   (side.isolating.size() == 1 ? "policy" : "policies") + "; " +
                   (side.allowed ? "a rule admits the flow" : "no rule admits the flow");
  }
  return side;
}

Verdict Evaluator::evaluate(const Flow& flow) const {
  Verdict v;
  v.egress = judge(flow, Direction::kEgress, true);
  v.ingress = judge(flow, Direction::kIngress, true);
  v.allowed = v.egress.allowed && v.ingress.allowed;
  return v;
}

bool Evaluator::allowed(const Flow& flow) const {
  return judge(flow, Direction::kEgress, false).allowed &&
         judge(flow, Direction::kIngress, false).allowed;
}

}  // namespace policy
