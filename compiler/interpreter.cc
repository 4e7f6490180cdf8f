#include "compiler/interpreter.h"

#include <algorithm>

#include "nft/render.h"

namespace compiler {
namespace {

using nft::Bytes;

Bytes addr_key(const common::IpAddr& a) {
  return Bytes(a.bytes.begin(), a.bytes.begin() + static_cast<long>(a.size()));
}

nft::Family family_of(const common::IpAddr& a) {
  return a.family == common::Family::kV4 ? nft::Family::ipv4 : nft::Family::ipv6;
}

bool field_in_range(std::span<const std::uint8_t> v, std::span<const std::uint8_t> lo,
                    std::span<const std::uint8_t> hi) {
  return !std::lexicographical_compare(v.begin(), v.end(), lo.begin(), lo.end()) &&
         !std::lexicographical_compare(hi.begin(), hi.end(), v.begin(), v.end());
}

bool element_covers(const nft::SetType& type, const nft::Element& e, const Bytes& key) {
  const Bytes& end = nft::element_end(e);
  for (std::size_t i = 0; i < type.key.size(); ++i) {
    if (!field_in_range(nft::field_bytes(type.key, key, i), nft::field_bytes(type.key, e.key, i),
                        nft::field_bytes(type.key, end, i)))
      return false;
  }
  return true;
}

class Machine {
 public:
  Machine(const nft::Program& p, const Packet& pkt, bool trace) : p_(p), pkt_(pkt), trace_(trace) {}

  Outcome run();

 private:
  enum class Flow : std::uint8_t { next, accept, drop, return_ };
  bool matches(const nft::Match& m) const;
  bool set_has(const std::string& name, const Bytes& key) const;
  Flow verdict(const nft::Verdict& v, int depth);
  Flow run_chain(const nft::Chain& chain, int depth);
  Flow statement(const nft::Rule& rule, int depth);

  const nft::Program& p_;
  const Packet& pkt_;
  bool trace_;
  Outcome out_;
};

bool Machine::set_has(const std::string& name, const Bytes& key) const {
  const nft::Set* set = p_.find_set(name);
  return set && lookup(*set, key) != nullptr;
}

bool Machine::matches(const nft::Match& match) const {
  return std::visit(
      [&](const auto& m) -> bool {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, nft::CtStateMatch>) {
          return ((pkt_.ct_state & m.states) != 0) != m.negate;
        } else if constexpr (std::is_same_v<T, nft::NfprotoMatch>) {
          return family_of(pkt_.saddr) == m.family;
        } else if constexpr (std::is_same_v<T, nft::L4protoMatch>) {
          return (m.protocols.count(pkt_.l4proto) > 0) != m.negate;
        } else if constexpr (std::is_same_v<T, nft::AddrSetMatch>) {
          // `ip saddr` first checks the packet is IPv4: other families never match.
          if (family_of(pkt_.saddr) != m.family) return false;
          const auto& a = m.field == nft::Addr::saddr ? pkt_.saddr : pkt_.daddr;
          return set_has(m.set, addr_key(a)) != m.negate;
        } else if constexpr (std::is_same_v<T, nft::PortSetMatch>) {
          // Without a transport header the payload load breaks the rule, negated or not.
          if (!pkt_.dport) return false;
          const auto key = nft::Element::proto_port(pkt_.l4proto, *pkt_.dport).key;
          return set_has(m.set, key) != m.negate;
        } else if constexpr (std::is_same_v<T, nft::FibLocalMatch>) {
          const bool local = m.field == nft::Addr::saddr ? pkt_.saddr_local : pkt_.daddr_local;
          return local != m.negate;
        } else if constexpr (std::is_same_v<T, nft::TcpFlagsMatch>) {
          if (pkt_.l4proto != nft::kProtoTcp) return false;
          return ((pkt_.tcp_flags & m.mask) == m.value) != m.negate;
        } else if constexpr (std::is_same_v<T, nft::CtMarkMatch>) {
          return ((pkt_.ct_mark & m.mask) == m.value) != m.negate;
        } else {
          const auto& name = m.iface == nft::Iface::iifname ? pkt_.iifname : pkt_.oifname;
          return (name == m.name) != m.negate;
        }
      },
      match);
}

Machine::Flow Machine::verdict(const nft::Verdict& v, int depth) {
  using K = nft::Verdict::Kind;
  switch (v.kind) {
    case K::accept:
      return Flow::accept;
    case K::drop:
      return Flow::drop;
    case K::return_:
      return Flow::return_;
    case K::jump:
    case K::goto_: {
      const nft::Chain* target = p_.find_chain(v.chain);
      // The kernel refuses programs with dangling jumps or loops; be safe regardless.
      if (!target || depth > 16) return Flow::drop;
      const Flow f = run_chain(*target, depth + 1);
      if (f == Flow::accept || f == Flow::drop) return f;
      // A jump comes back to the next rule; a goto returns to the caller's caller.
      return v.kind == K::jump ? Flow::next : Flow::return_;
    }
  }
  return Flow::drop;
}

Machine::Flow Machine::statement(const nft::Rule& rule, int depth) {
  if (const auto* v = std::get_if<nft::Verdict>(&rule.statement)) return verdict(*v, depth);
  const auto& d = std::get<nft::VmapDispatch>(rule.statement);
  if (family_of(pkt_.saddr) != d.family) return Flow::next;
  const nft::Set* map = p_.find_set(d.map);
  const auto& a = d.field == nft::Addr::saddr ? pkt_.saddr : pkt_.daddr;
  const nft::Element* e = map ? lookup(*map, addr_key(a)) : nullptr;
  if (!e || !e->verdict) return Flow::next;  // no element: the rule does nothing
  return verdict(*e->verdict, depth);
}

Machine::Flow Machine::run_chain(const nft::Chain& chain, int depth) {
  for (std::size_t i = 0; i < chain.rules.size(); ++i) {
    const auto& rule = chain.rules[i];
    if (!std::all_of(rule.matches.begin(), rule.matches.end(),
                     [&](const nft::Match& m) { return matches(m); }))
      continue;
    if (trace_) {
      out_.trace.push_back(chain.name + "#" + std::to_string(i) + ": " + nft::render_rule(rule));
    }
    const Flow f = statement(rule, depth);
    if (f != Flow::next) return f;
  }
  return Flow::return_;
}

Outcome Machine::run() {
  for (const auto& [name, chain] : p_.chains) {
    if (!chain.base || chain.base->hook != pkt_.hook) continue;
    Flow f = run_chain(chain, 0);
    if (f == Flow::return_) {
      f = chain.base->policy == nft::ChainPolicy::accept ? Flow::accept : Flow::drop;
      if (trace_)
        out_.trace.push_back(name + ": policy " + (f == Flow::accept ? "accept" : "drop"));
    }
    if (f == Flow::drop) {
      out_.accepted = false;
      return out_;
    }
  }
  return out_;
}

}  // namespace

const nft::Element* lookup(const nft::Set& set, const nft::Bytes& key) {
  if (!set.type.interval) {
    nft::Element probe{.key = key};
    const auto it = set.elements.find(probe);
    return it == set.elements.end() ? nullptr : &*it;
  }
  for (const auto& e : set.elements) {
    if (element_covers(set.type, e, key)) return &e;
  }
  return nullptr;
}

Outcome run(const nft::Program& program, const Packet& packet, bool trace) {
  return Machine(program, packet, trace).run();
}

}  // namespace compiler
