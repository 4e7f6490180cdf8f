#include "compiler/compiler.h"

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <set>

#include "compiler/ranges.h"

namespace compiler {
namespace {

using common::Family;
using common::IpAddr;
using nft::AddrSetMatch;
using policy::Cluster;
using policy::Direction;
using policy::LabelSelector;
using policy::NetworkPolicy;
using policy::Pod;

constexpr Family kFamilies[] = {Family::kV4, Family::kV6};

nft::Family nft_family(Family f) {
  return f == Family::kV4 ? nft::Family::ipv4 : nft::Family::ipv6;
}

const char* tag(Family f) {
  return f == Family::kV4 ? "v4" : "v6";
}

// FNV-1a: object names are derived from what the object means, so they are stable across
// compiles and unrelated changes. 48 bits of it keep names short; collisions are detected.
std::string digest(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  char buf[13];
  std::snprintf(buf, sizeof buf, "%012llx", static_cast<unsigned long long>(h >> 16));
  return buf;
}

// A selector in a canonical text form: equal selectors written differently share a set.
std::string canonical(const LabelSelector& s) {
  std::string out;
  for (const auto& [k, v] : s.match_labels) out += k + "=" + v + ",";
  std::vector<std::string> exprs;
  for (const auto& r : s.match_expressions) {
    auto values = r.values;
    std::sort(values.begin(), values.end());
    std::string e = r.key + "#" + std::to_string(static_cast<int>(r.op)) + "(";
    for (const auto& v : values) e += v + ",";
    exprs.push_back(e + ")");
  }
  std::sort(exprs.begin(), exprs.end());
  for (const auto& e : exprs) out += e + ";";
  return out;
}

std::string rule_comment(const NetworkPolicy& np, Direction d, std::size_t index) {
  std::string c = np.key() + " " + policy::to_string(d) + "[" + std::to_string(index) + "]";
  if (c.size() > nft::kMaxCommentLength) c.resize(nft::kMaxCommentLength);
  return c;
}

// The port of `pod` named `name` for `proto`, as the destination of a flow resolves it.
std::optional<std::uint16_t> resolve(const Pod& pod, const std::string& name,
                                     policy::Protocol proto) {
  for (const auto& cp : pod.ports) {
    if (cp.name == name && cp.protocol == proto) return cp.port;
  }
  return std::nullopt;
}

// Sorted addresses go into a set at its end in constant time each; peer sets of every pod in
// the cluster are rebuilt on each compile, so this is the compiler's hot loop.
// The addresses of a set are of one family: sorting them as two big-endian 64-bit integers
// (numeric order = the kernel's byte order) is several times faster than comparing IpAddr.
void insert_sorted(nft::ElementSet& set, const std::vector<IpAddr>& ips) {
  if (ips.empty()) return;
  using Key = std::pair<std::uint64_t, std::uint64_t>;
  std::vector<Key> keys;
  keys.reserve(ips.size());
  for (const auto& ip : ips) {
    Key k{0, 0};
    for (std::size_t i = 0; i < 8; ++i) k.first = (k.first << 8) | ip.bytes[i];
    for (std::size_t i = 8; i < 16; ++i) k.second = (k.second << 8) | ip.bytes[i];
    keys.push_back(k);
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  IpAddr ip{.family = ips.front().family};
  for (const auto& [hi, lo] : keys) {
    for (std::size_t i = 0; i < 8; ++i) ip.bytes[i] = static_cast<std::uint8_t>(hi >> (56 - 8 * i));
    for (std::size_t i = 0; i < 8; ++i) {
      ip.bytes[8 + i] = static_cast<std::uint8_t>(lo >> (56 - 8 * i));
    }
    set.insert(set.end(), addr_element(ip));
  }
}

// Numeric ports and bare protocols of a rule's port list ("all ports" is 0-65535).
std::vector<PortRange> numeric_ports(const std::vector<policy::PolicyPort>& ports) {
  std::vector<PortRange> out;
  for (const auto& p : ports) {
    const auto proto = static_cast<std::uint8_t>(p.protocol);
    if (!p.port) {
      out.push_back({proto, 0, 65535});
    } else if (const auto* n = std::get_if<std::int32_t>(&*p.port)) {
      const auto end = p.end_port.value_or(*n);
      out.push_back({proto, static_cast<std::uint16_t>(*n), static_cast<std::uint16_t>(end)});
    }
  }
  return out;
}

class Builder {
 public:
  Builder(const Cluster& c, const std::string& node, const Options& o)
      : cluster_(c), node_(node), options_(o) {
    program_.table = o.table;
    // An index, not ranges: a cluster built by hand need not be sorted by namespace.
    for (std::size_t i = 0; i < c.pods.size(); ++i) {
      ns_pods_[c.pods[i].namespace_].push_back(i);
      for (const auto& ip : c.pods[i].ips) families_.insert(ip.family);
    }
  }

  Compiled build();

 private:
  std::string unique(const std::string& prefix, const std::string& meaning);
  nft::Set& new_set(const std::string& name, nft::KeyType key, bool interval);
  template <typename F>
  void for_each_peer_pod(const policy::Peer& peer, const std::string& ns, F&& f) const;
  std::string selector_set(const policy::Peer& peer, const std::string& ns, Family f);
  std::string block_set(const policy::IpBlock& block);
  std::string port_set(const std::vector<PortRange>& ranges);
  void peer_rules(const NetworkPolicy& np, const policy::Rule& rule, Direction d,
                  std::optional<nft::Match> port_match, const std::string& comment,
                  std::vector<nft::Rule>& out);
  void named_egress_rules(const NetworkPolicy& np, std::size_t index, std::vector<nft::Rule>& out);
  std::vector<nft::Rule> chain_rules(const std::vector<const NetworkPolicy*>& policies, Direction d,
                                     const Pod& subject);
  std::string group_key(const std::vector<const NetworkPolicy*>& policies, Direction d,
                        const Pod& pod) const;
  std::vector<const NetworkPolicy*> isolating(const Pod& pod, Direction d) const;
  void dispatch(const Pod& pod, Direction d);
  std::vector<nft::Rule> guard_rules(std::initializer_list<nft::Addr> fields) const;
  std::vector<nft::Rule> quarantine_rules() const;
  void base_sets();
  void base_chains();

  const Cluster& cluster_;
  const std::string& node_;
  const Options& options_;
  nft::Program program_;
  CompileStats stats_;
  std::map<std::string, std::vector<std::size_t>> ns_pods_;  // namespace -> pod indices
  std::set<Family> families_;                                // address families in the cluster
  std::map<std::string, std::string> meaning_of_;            // object name -> what it stands for
  std::map<std::string, std::string> chain_of_group_;        // group key -> chain name
  Recipes recipes_;
};

std::string Builder::unique(const std::string& prefix, const std::string& meaning) {
  std::string name = prefix + "-" + digest(meaning);
  for (int n = 2;; ++n) {
    auto [it, fresh] = meaning_of_.emplace(name, meaning);
    if (fresh || it->second == meaning) return name;
    name = prefix + "-" + digest(meaning) + "-" + std::to_string(n);
  }
}

nft::Set& Builder::new_set(const std::string& name, nft::KeyType key, bool interval) {
  if (auto it = program_.sets.find(name); it != program_.sets.end()) return it->second;
  return program_.put(nft::Set{.name = name, .type = {.key = {key}, .interval = interval}});
}

template <typename F>
void Builder::for_each_peer_pod(const policy::Peer& peer, const std::string& ns, F&& f) const {
  auto scan = [&](const std::string& name) {
    const auto it = ns_pods_.find(name);
    if (it == ns_pods_.end()) return;
    for (std::size_t i : it->second) {
      const Pod& pod = cluster_.pods[i];
      if (!pod.selectable()) continue;  // hostNetwork or finished: never a selector peer
      if (peer.pod_selector && !peer.pod_selector->matches(pod.labels)) continue;
      f(pod);
    }
  };
  if (!peer.namespace_selector) return scan(ns);
  for (const auto& [name, n] : cluster_.namespaces) {
    if (peer.namespace_selector->matches(n.labels)) scan(name);
  }
}

std::string Builder::selector_set(const policy::Peer& peer, const std::string& ns, Family f) {
  std::string meaning = std::string(tag(f)) + "|";
  meaning += peer.namespace_selector ? "ns:" + canonical(*peer.namespace_selector) : "in:" + ns;
  meaning += peer.pod_selector ? "|pods:" + canonical(*peer.pod_selector) : "|all";
  const std::string name = unique(std::string("pods-") + tag(f), meaning);
  if (program_.sets.count(name)) return name;
  auto& set =
      new_set(name, f == Family::kV4 ? nft::KeyType::ipv4_addr : nft::KeyType::ipv6_addr, false);
  recipes_.peer_sets[name] = PeerSetRecipe{
      .peer = {.pod_selector = peer.pod_selector, .namespace_selector = peer.namespace_selector},
      .policy_namespace = ns,
      .family = f};
  std::vector<IpAddr> ips;
  for_each_peer_pod(peer, ns, [&](const Pod& pod) {
    for (const auto& ip : pod.ips) {
      if (ip.family == f) ips.push_back(ip);
    }
  });
  insert_sorted(set.elements, ips);
  return name;
}

std::string Builder::block_set(const policy::IpBlock& block) {
  const Family f = block.cidr.addr.family;
  std::string meaning = block.cidr.str();
  for (const auto& e : block.except) meaning += " -" + e.str();
  const std::string name = unique(std::string("cidr-") + tag(f), meaning);
  if (program_.sets.count(name)) return name;
  auto& set =
      new_set(name, f == Family::kV4 ? nft::KeyType::ipv4_addr : nft::KeyType::ipv6_addr, true);
  for (const auto& r : subtract(block.cidr, block.except)) {
    set.elements.insert(addr_element(r.first, r.last));
  }
  return name;
}

std::string Builder::port_set(const std::vector<PortRange>& ranges) {
  const auto merged = merge(ranges);
  std::string meaning;
  for (const auto& r : merged) {
    meaning += std::to_string(r.proto) + ":" + std::to_string(r.first) + "-" +
               std::to_string(r.last) + ",";
  }
  const std::string name = unique("ports", meaning);
  if (program_.sets.count(name)) return name;
  auto& set = program_.put(nft::Set{
      .name = name,
      .type = {.key = {nft::KeyType::inet_proto, nft::KeyType::inet_service}, .interval = true}});
  set.elements = port_elements(merged);
  return name;
}

void Builder::peer_rules(const NetworkPolicy& np, const policy::Rule& rule, Direction d,
                         std::optional<nft::Match> port_match, const std::string& comment,
                         std::vector<nft::Rule>& out) {
  const nft::Addr field = d == Direction::kIngress ? nft::Addr::saddr : nft::Addr::daddr;
  auto emit = [&](std::vector<nft::Match> matches) {
    if (port_match) matches.push_back(*port_match);
    out.push_back(
        {.matches = std::move(matches), .statement = nft::Verdict::return_(), .comment = comment});
  };
  if (rule.peers.empty()) return emit({});  // no `from`/`to`: every peer
  for (const auto& peer : rule.peers) {
    if (peer.ip_block) {
      emit({AddrSetMatch{.family = nft_family(peer.ip_block->cidr.addr.family),
                         .field = field,
                         .set = block_set(*peer.ip_block)}});
      continue;
    }
    // A rule per address family in use, whether or not the set has members now: a pod
    // joining the selector later is then an element change, not a chain change.
    for (Family f : kFamilies) {
      if (!families_.count(f)) continue;
      emit({AddrSetMatch{
          .family = nft_family(f), .field = field, .set = selector_set(peer, np.namespace_, f)}});
    }
  }
}

// Egress to a named port: the name resolves on each DESTINATION pod (name and protocol), so
// the destinations are grouped by the number their port of that name has, and each group
// becomes an address set checked together with that number.
void Builder::named_egress_rules(const NetworkPolicy& np, std::size_t index,
                                 std::vector<nft::Rule>& out) {
  const policy::Rule& rule = np.egress[index];
  std::set<std::pair<std::string, policy::Protocol>> names;
  for (const auto& p : rule.ports) {
    if (p.port && std::holds_alternative<std::string>(*p.port))
      names.emplace(std::get<std::string>(*p.port), p.protocol);
  }
  // Which pods resolve the name, to which numbers, decides the named-* sets AND the rules.
  if (!names.empty()) recipes_.named_egress_ports = true;
  for (const auto& [name, proto] : names) {
    std::map<std::uint16_t, std::map<Family, std::set<IpAddr>>> by_port;
    auto add = [&, &name = name, proto = proto](const Pod& pod, const policy::IpBlock* block) {
      const auto port = resolve(pod, name, proto);
      if (!port) return;
      for (const auto& ip : pod.ips) {
        if (!block || block->contains(ip)) by_port[*port][ip.family].insert(ip);
      }
    };
    // Without peers, or with ipBlock peers, the destination is an address; the name resolves
    // on whichever pod has it — hostNetwork pods included (their address is the node's).
    if (rule.peers.empty()) {
      for (const auto& pod : cluster_.pods) {
        if (!pod.finished()) add(pod, nullptr);
      }
    }
    for (const auto& peer : rule.peers) {
      if (peer.ip_block) {
        for (const auto& pod : cluster_.pods) {
          if (!pod.finished()) add(pod, &*peer.ip_block);
        }
      } else {
        for_each_peer_pod(peer, np.namespace_, [&](const Pod& pod) { add(pod, nullptr); });
      }
    }
    const auto p8 = static_cast<std::uint8_t>(proto);
    for (const auto& [port, families] : by_port) {
      for (const auto& [f, ips] : families) {
        const std::string meaning = np.key() + "|egress[" + std::to_string(index) + "]|" + name +
                                    "/" + policy::to_string(proto) + "=" + std::to_string(port) +
                                    "|" + tag(f);
        const std::string set_name = unique(std::string("named-") + tag(f), meaning);
        auto& set = new_set(
            set_name, f == Family::kV4 ? nft::KeyType::ipv4_addr : nft::KeyType::ipv6_addr, false);
        insert_sorted(set.elements, std::vector<IpAddr>(ips.begin(), ips.end()));
        out.push_back(
            {.matches = {AddrSetMatch{
                             .family = nft_family(f), .field = nft::Addr::daddr, .set = set_name},
                         nft::PortSetMatch{.set = port_set({{p8, port, port}})}},
             .statement = nft::Verdict::return_(),
             .comment = rule_comment(np, Direction::kEgress, index)});
      }
    }
  }
}

std::vector<nft::Rule> Builder::chain_rules(const std::vector<const NetworkPolicy*>& policies,
                                            Direction d, const Pod& subject) {
  std::vector<nft::Rule> out;
  for (const NetworkPolicy* np : policies) {
    const auto& rules = np->rules(d);
    for (std::size_t i = 0; i < rules.size(); ++i) {
      const auto& rule = rules[i];
      auto ranges = numeric_ports(rule.ports);
      if (d == Direction::kIngress) {
        // The subject is the destination: its named ports resolve here, at compile time.
        for (const auto& p : rule.ports) {
          if (!p.port || !std::holds_alternative<std::string>(*p.port)) continue;
          if (auto n = resolve(subject, std::get<std::string>(*p.port), p.protocol))
            ranges.push_back({static_cast<std::uint8_t>(p.protocol), *n, *n});
        }
      }
      std::optional<nft::Match> port_match;
      if (!ranges.empty()) port_match = nft::PortSetMatch{.set = port_set(ranges)};
      // A rule whose ports all failed to resolve admits nothing.
      if (rule.ports.empty() || port_match) {
        peer_rules(*np, rule, d, port_match, rule_comment(*np, d, i), out);
      }
      if (d == Direction::kEgress) named_egress_rules(*np, i, out);
    }
  }
  out.push_back({.statement = nft::Verdict::drop(),
                 .counter = options_.counters,
                 .comment = std::string("default deny ") + policy::to_string(d)});
  return out;
}

// Pods share a chain when the same policies select them and, for ingress, their named ports
// resolve to the same numbers.
std::string Builder::group_key(const std::vector<const NetworkPolicy*>& policies, Direction d,
                               const Pod& pod) const {
  std::string key = policy::to_string(d);
  for (const NetworkPolicy* np : policies) key += "|" + np->key();
  if (d == Direction::kEgress) return key;
  std::set<std::pair<std::string, policy::Protocol>> names;
  for (const NetworkPolicy* np : policies) {
    for (const auto& rule : np->ingress) {
      for (const auto& p : rule.ports) {
        if (p.port && std::holds_alternative<std::string>(*p.port))
          names.emplace(std::get<std::string>(*p.port), p.protocol);
      }
    }
  }
  for (const auto& [name, proto] : names) {
    const auto port = resolve(pod, name, proto);
    key += "|" + name + "/" + policy::to_string(proto) + "=" +
           (port ? std::to_string(*port) : std::string("-"));
  }
  return key;
}

std::vector<const NetworkPolicy*> Builder::isolating(const Pod& pod, Direction d) const {
  std::vector<const NetworkPolicy*> out;
  for (const auto& np : cluster_.policies) {
    if (np.namespace_ == pod.namespace_ && np.affects(d) && np.pod_selector.matches(pod.labels))
      out.push_back(&np);
  }
  return out;
}

void Builder::dispatch(const Pod& pod, Direction d) {
  const auto policies = isolating(pod, d);
  if (policies.empty()) return;  // not isolated: no map entry, the packet passes on
  const std::string key = group_key(policies, d, pod);
  auto [it, fresh] = chain_of_group_.emplace(key, std::string());
  if (fresh) {
    it->second = unique(d == Direction::kIngress ? "ingress" : "egress", key);
    program_.put(nft::Chain{.name = it->second, .rules = chain_rules(policies, d, pod)});
  }
  const bool in = d == Direction::kIngress;
  ++(in ? stats_.isolated_ingress : stats_.isolated_egress);
  for (const auto& ip : pod.ips) {
    const bool v4 = ip.family == Family::kV4;
    const char* map = in ? (v4 ? kIngressV4 : kIngressV6) : (v4 ? kEgressV4 : kEgressV6);
    program_.sets.at(map).elements.insert(addr_element(ip).with(nft::Verdict::jump(it->second)));
    if (options_.midstream_guard) {
      program_.sets.at(v4 ? kIsolatedV4 : kIsolatedV6).elements.insert(addr_element(ip));
    }
  }
}

// The mid-stream guard (Options::midstream_guard): `ct state new` TCP packets that are not a
// bare SYN, from (or to) an isolated pod of this node, are dropped. With tcp_loose only
// ACK-class packets (no SYN, FIN or RST) create entries mid-stream: FIN and RST without an
// entry are `ct state invalid` and go on to the policy like a first packet (a RST for a
// deleted connection reaches the peer when the policy allows that direction, and creates no
// entry). First packets of connections are SYNs and never match, so the guard changes no
// verdict the evaluator gives; it only reaches packets the established rule did not accept.
std::vector<nft::Rule> Builder::guard_rules(std::initializer_list<nft::Addr> fields) const {
  std::vector<nft::Rule> out;
  if (!options_.midstream_guard) return out;
  for (const nft::Addr field : fields) {
    for (const auto& [family, set] :
         {std::pair{nft::Family::ipv4, kIsolatedV4}, std::pair{nft::Family::ipv6, kIsolatedV6}}) {
      out.push_back(nft::Rule{
          .matches = {nft::CtStateMatch{.states = nft::kCtNew},
                      nft::TcpFlagsMatch{
                          .mask = nft::kTcpFin | nft::kTcpSyn | nft::kTcpRst | nft::kTcpAck,
                          .value = nft::kTcpSyn,
                          .negate = true},
                      AddrSetMatch{.family = family, .field = field, .set = set}},
          .statement = nft::Verdict::drop(),
          .counter = options_.counters,
          .comment = "mid-stream pickup of an isolated pod"});
    }
  }
  return out;
}

// The quarantine (Options::quarantine_mark): packets of connections conntrack/ marked as
// revoked are dropped, in both directions, before anything accepts established traffic. A
// first packet has no mark: no verdict the evaluator gives changes.
std::vector<nft::Rule> Builder::quarantine_rules() const {
  if (options_.quarantine_mark == 0) return {};
  const std::uint32_t bit = options_.quarantine_mark;
  return {nft::Rule{.matches = {nft::CtMarkMatch{.mask = bit, .value = bit}},
                    .statement = nft::Verdict::drop(),
                    .counter = options_.counters,
                    .comment = kQuarantineComment}};
}

// The sets the base chains use, empty: pods fill them in dispatch().
void Builder::base_sets() {
  for (const char* name : {kIngressV4, kEgressV4, kIngressV6, kEgressV6}) {
    const bool v4 = name == kIngressV4 || name == kEgressV4;
    program_.put(nft::Set{.name = name,
                          .type = {.key = {v4 ? nft::KeyType::ipv4_addr : nft::KeyType::ipv6_addr},
                                   .verdict_map = true}});
  }
  if (options_.midstream_guard) {
    new_set(kIsolatedV4, nft::KeyType::ipv4_addr, false);
    new_set(kIsolatedV6, nft::KeyType::ipv6_addr, false);
  }
}

void Builder::base_chains() {
  base_sets();
  const nft::Rule established{
      .matches = {nft::CtStateMatch{.states =
                                        nft::kCtEstablished | nft::kCtRelated | nft::kCtUntracked}},
      .statement = nft::Verdict::accept()};
  auto vmap = [](nft::Family f, nft::Addr field, const char* map) {
    return nft::Rule{.statement = nft::VmapDispatch{.family = f, .field = field, .map = map}};
  };
  const nft::Rule egress_v4 = vmap(nft::Family::ipv4, nft::Addr::saddr, kEgressV4);
  const nft::Rule egress_v6 = vmap(nft::Family::ipv6, nft::Addr::saddr, kEgressV6);
  const nft::Rule ingress_v4 = vmap(nft::Family::ipv4, nft::Addr::daddr, kIngressV4);
  const nft::Rule ingress_v6 = vmap(nft::Family::ipv6, nft::Addr::daddr, kIngressV6);
  auto chain = [&](const char* name, nft::Hook hook, std::vector<nft::Rule> guard,
                   std::vector<nft::Rule> dispatch) {
    std::vector<nft::Rule> rules = quarantine_rules();
    rules.push_back(established);
    rules.insert(rules.end(), guard.begin(), guard.end());
    rules.insert(rules.end(), dispatch.begin(), dispatch.end());
    program_.put(nft::Chain{.name = name,
                            .base = nft::BaseChain{.hook = hook, .priority = options_.priority},
                            .rules = std::move(rules)});
  };
  using nft::Addr;
  // forward: pod to pod (bridged, thanks to br_netfilter, or routed) and pod to outside;
  // it sees the destination after DNAT, so Services are judged by their endpoints.
  chain(kForwardChain, nft::Hook::forward, guard_rules({Addr::saddr, Addr::daddr}),
        {egress_v4, egress_v6, ingress_v4, ingress_v6});
  // input: a pod talking to the node itself is egress of the pod.
  chain(kInputChain, nft::Hook::input, guard_rules({Addr::saddr}), {egress_v4, egress_v6});
  // output: the node talking to its pods, judged only when node traffic is not trusted. The
  // guard and the quarantine are needed either way: a node server whose pod client was cut
  // off must not revive the connection by pushing data (or answering late).
  std::vector<nft::Rule> dispatch;
  if (!options_.allow_node_traffic) dispatch = {ingress_v4, ingress_v6};
  auto guard = guard_rules({Addr::daddr});
  if (!guard.empty() || !dispatch.empty() || options_.quarantine_mark != 0) {
    chain(kOutputChain, nft::Hook::output, std::move(guard), std::move(dispatch));
  }
}

Compiled Builder::build() {
  base_chains();
  for (const auto& pod : cluster_.pods) {
    if (pod.node != node_ || pod.host_network || pod.finished() || pod.ips.empty()) continue;
    ++stats_.node_pods;
    dispatch(pod, Direction::kIngress);
    dispatch(pod, Direction::kEgress);
  }
  stats_.chains = program_.chains.size();
  stats_.sets = program_.sets.size();
  for (const auto& [_, chain] : program_.chains) stats_.rules += chain.rules.size();
  for (const auto& [_, set] : program_.sets) stats_.elements += set.elements.size();
  recipes_.families = families_;
  return {std::move(program_), stats_, std::move(recipes_)};
}

}  // namespace

Compiled compile(const Cluster& cluster, const std::string& node, const Options& options) {
  return Builder(cluster, node, options).build();
}

}  // namespace compiler
