#include "random_cluster.h"

#include <algorithm>

namespace compiler_test {
namespace {

using policy::LabelSelector;
using policy::Protocol;

class Gen {
 public:
  explicit Gen(std::uint64_t seed) : rng_(seed) {}

  int below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(int percent) { return below(100) < percent; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(below(static_cast<int>(v.size())))];
  }

  policy::Labels labels(const std::vector<std::string>& keys, const std::vector<std::string>& vals);
  LabelSelector selector(const std::vector<std::string>& keys,
                         const std::vector<std::string>& vals);
  policy::Peer peer(const policy::Cluster& c);
  policy::PolicyPort port();
  policy::Rule rule(const policy::Cluster& c);
  policy::IpBlock ip_block(const policy::Cluster& c);

 private:
  std::mt19937_64 rng_;
};

const std::vector<std::string> kPodKeys = {"app", "tier"};
const std::vector<std::string> kPodVals = {"a", "b", "c"};
const std::vector<std::string> kNsKeys = {"team", "env"};
const std::vector<std::string> kNsVals = {"x", "y"};
const std::vector<std::string> kPortNames = {"http", "dns", "metrics", "sig"};

policy::Labels Gen::labels(const std::vector<std::string>& keys,
                           const std::vector<std::string>& vals) {
  policy::Labels l;
  for (const auto& k : keys) {
    if (chance(60)) l[k] = pick(vals);
  }
  return l;
}

LabelSelector Gen::selector(const std::vector<std::string>& keys,
                            const std::vector<std::string>& vals) {
  LabelSelector s;
  if (chance(25)) return s;  // {}: everything
  if (chance(60)) s.match_labels[pick(keys)] = pick(vals);
  if (s.match_labels.empty() || chance(30)) {
    LabelSelector::Requirement r{.key = pick(keys), .op = static_cast<LabelSelector::Op>(below(4))};
    if (r.op == LabelSelector::Op::kIn || r.op == LabelSelector::Op::kNotIn) {
      r.values.push_back(pick(vals));
      if (chance(40)) r.values.push_back(pick(vals));
    }
    s.match_expressions.push_back(r);
  }
  return s;
}

// Addresses around the pods: a pod's own /32, its node's /24, the whole pod range, or IPv6.
policy::IpBlock Gen::ip_block(const policy::Cluster& c) {
  const auto& pod = pick(c.pods);
  const bool v6 = chance(30);
  std::string cidr = v6 ? "fd00::/16" : "10.244.0.0/16";
  for (const auto& ip : pod.ips) {
    if ((ip.family == common::Family::kV6) != v6) continue;
    const int prefix =
        v6 ? pick(std::vector<int>{64, 120, 128}) : pick(std::vector<int>{16, 24, 31});
    cidr = ip.str() + "/" + std::to_string(prefix);
  }
  policy::IpBlock b{.cidr = common::Cidr::parse(cidr)->cidr, .cidr_text = cidr};
  // except: addresses of other pods, when they lie inside the block.
  for (int i = 0; i < below(3); ++i) {
    for (const auto& ip : pick(c.pods).ips) {
      const auto host = common::Cidr::host(ip);
      const auto wider = common::Cidr::parse(ip.str() + (v6 ? "/126" : "/30"))->cidr;
      const auto& e = chance(50) ? host : wider;
      if (b.cidr.contains(e) && b.cidr != e) b.except.push_back(e);
    }
  }
  return b;
}

policy::Peer Gen::peer(const policy::Cluster& c) {
  policy::Peer p;
  switch (below(5)) {
    case 0:
      p.ip_block = ip_block(c);
      break;
    case 1:
      p.namespace_selector = selector(kNsKeys, kNsVals);
      break;
    case 2:
      p.namespace_selector = selector(kNsKeys, kNsVals);
      p.pod_selector = selector(kPodKeys, kPodVals);
      break;
    default:
      p.pod_selector = selector(kPodKeys, kPodVals);
  }
  return p;
}

policy::PolicyPort Gen::port() {
  policy::PolicyPort p{.protocol = pick(std::vector<Protocol>{Protocol::kTCP, Protocol::kTCP,
                                                              Protocol::kUDP, Protocol::kSCTP})};
  switch (below(5)) {
    case 0:
      break;  // every port of the protocol
    case 1:
      p.port = std::string(pick(kPortNames));
      break;
    case 2: {
      const int first = pick(std::vector<int>{50, 80, 81, 8000});
      p.port = first;
      p.end_port = first + below(100);
      break;
    }
    default:
      p.port = pick(std::vector<int>{53, 80, 81, 8080, 9090});
  }
  return p;
}

policy::Rule Gen::rule(const policy::Cluster& c) {
  policy::Rule r;
  for (int i = below(3); i > 0; --i) r.peers.push_back(peer(c));
  for (int i = below(3); i > 0; --i) r.ports.push_back(port());
  return r;
}

void add_pods(Gen& g, policy::Cluster& c) {
  const int pods = 3 + g.below(8);
  for (int i = 0; i < pods; ++i) {
    policy::Pod pod{.namespace_ = "ns" + std::to_string(g.below(3)),
                    .name = "p" + std::to_string(i),
                    .labels = g.labels(kPodKeys, kPodVals),
                    .node = "n" + std::to_string(1 + g.below(2)),
                    .phase = "Running"};
    if (g.chance(8)) {
      pod.host_network = true;
      pod.ips.push_back(*common::IpAddr::parse("192.168.77." + pod.node.substr(1)));
    } else if (!g.chance(5)) {
      const std::string n = pod.node.substr(1);
      if (!g.chance(20))
        pod.ips.push_back(*common::IpAddr::parse("10.244." + n + "." + std::to_string(10 + i)));
      if (pod.ips.empty() || g.chance(30)) {
        pod.ips.push_back(
            *common::IpAddr::parse("fd00:10:244:" + n + "::" + std::to_string(10 + i)));
      }
    }
    if (g.chance(5)) pod.phase = "Succeeded";
    const std::vector<policy::ContainerPort> catalogue = {
        {"http", 80, Protocol::kTCP},      {"http", 8080, Protocol::kTCP},
        {"dns", 53, Protocol::kUDP},       {"dns", 53, Protocol::kTCP},
        {"metrics", 9090, Protocol::kTCP}, {"sig", 81, Protocol::kSCTP},
        {"http", 81, Protocol::kUDP}};
    for (const auto& cp : catalogue) {
      const bool dup = std::any_of(pod.ports.begin(), pod.ports.end(), [&](const auto& p) {
        return p.name == cp.name && p.protocol == cp.protocol;
      });
      if (!dup && g.chance(30)) pod.ports.push_back(cp);
    }
    c.pods.push_back(std::move(pod));
  }
}

}  // namespace

policy::Cluster random_cluster(std::uint64_t seed) {
  Gen g(seed);
  policy::Cluster c;
  for (int i = 0; i < 3; ++i) {
    const std::string name = "ns" + std::to_string(i);
    auto labels = g.labels(kNsKeys, kNsVals);
    labels["kubernetes.io/metadata.name"] = name;
    c.namespaces[name] = {.name = name, .labels = labels};
  }
  add_pods(g, c);
  const int policies = 1 + g.below(4);
  for (int i = 0; i < policies; ++i) {
    policy::NetworkPolicy np{.namespace_ = "ns" + std::to_string(g.below(3)),
                             .name = "np" + std::to_string(i),
                             .pod_selector = g.selector(kPodKeys, kPodVals)};
    const int types = g.below(4);  // ingress only, egress only, both, defaulted
    for (int r = g.below(3); r > 0; --r) np.ingress.push_back(g.rule(c));
    for (int r = g.below(3); r > 0; --r) np.egress.push_back(g.rule(c));
    np.ingress_type = types != 1;
    np.egress_type = types == 1 || types == 2 || (types == 3 && !np.egress.empty());
    np.policy_types_explicit = types != 3;
    c.policies.push_back(std::move(np));
  }
  c.finalize();
  return c;
}

}  // namespace compiler_test
