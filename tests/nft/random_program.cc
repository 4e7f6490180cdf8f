#include "random_program.h"

#include <algorithm>
#include <array>

#include "nft/validate.h"

namespace nft::testing {
namespace {

constexpr std::array<const char*, 8> kSetNames = {"s-a", "s-b", "s-c", "s-d",
                                                  "s-e", "s-f", "s-g", "s-h"};
constexpr std::array<const char*, 5> kChainNames = {"c-0", "c-1", "c-2", "c-3", "c-4"};
constexpr std::array<std::pair<const char*, Hook>, 3> kBaseChains = {
    {{"b-fwd", Hook::forward}, {"b-in", Hook::input}, {"b-out", Hook::output}}};

bool chance(Rng& rng, double p) {
  return std::bernoulli_distribution(p)(rng);
}

std::size_t pick(Rng& rng, std::size_t n) {
  return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
}

template <class C>
const auto& pick_from(Rng& rng, const C& c) {
  auto it = c.begin();
  std::advance(it, pick(rng, c.size()));
  return *it;
}

SetType random_set_type(Rng& rng) {
  using K = KeyType;
  static const std::vector<SetType> kTypes = {
      {{K::ipv4_addr}, false, false},
      {{K::ipv4_addr}, true, false},
      {{K::ipv6_addr}, true, false},
      {{K::ipv6_addr}, false, false},
      {{K::inet_proto, K::inet_service}, false, false},
      {{K::inet_proto, K::inet_service}, true, false},
      {{K::ipv4_addr}, false, true},
      {{K::ipv6_addr}, false, true},
      {{K::ipv4_addr}, true, true},
      {{K::inet_service}, true, false},
      {{K::inet_proto}, false, false},
      {{K::ipv4_addr, K::inet_proto, K::inet_service}, true, false},
  };
  return pick_from(rng, kTypes);
}

// One field as a closed range lo..hi, drawn from a small pool of values.
void random_field(Rng& rng, KeyType type, bool interval, Bytes& lo, Bytes& hi) {
  auto n = static_cast<std::uint8_t>(pick(rng, 24));
  auto span = static_cast<std::uint8_t>(interval && chance(rng, 0.4) ? pick(rng, 6) : 0);
  auto top = static_cast<std::uint8_t>(std::min(255, n + span));
  switch (type) {
    case KeyType::ipv4_addr:
      lo = {10, 0, 0, n};
      hi = {10, 0, 0, top};
      break;
    case KeyType::ipv6_addr:
      lo = Bytes(16, 0), hi = Bytes(16, 0);
      lo[0] = hi[0] = 0xfd;
      lo[15] = n, hi[15] = top;
      break;
    case KeyType::inet_proto:
      lo = hi = {static_cast<std::uint8_t>(pick_from(rng, std::array{6, 17, 132, 47}))};
      break;
    case KeyType::inet_service:
      lo = {0, n}, hi = {0, top};
      break;
  }
}

Element random_element(Rng& rng, const SetType& type) {
  Element e;
  e.key.assign(type.key_length(), 0);
  Bytes end = e.key;
  for (std::size_t i = 0; i < type.key.size(); ++i) {
    Bytes lo, hi;
    random_field(rng, type.key[i], type.interval, lo, hi);
    std::size_t offset = field_offset(type.key, i);
    std::copy(lo.begin(), lo.end(), e.key.begin() + static_cast<long>(offset));
    std::copy(hi.begin(), hi.end(), end.begin() + static_cast<long>(offset));
  }
  if (end != e.key) {
    e.key_end = end;
  }
  return e;
}

Verdict random_verdict(Rng& rng, bool allow_chains) {
  switch (pick(rng, allow_chains ? 5 : 3)) {
    case 0:
      return Verdict::accept();
    case 1:
      return Verdict::drop();
    case 2:
      return Verdict::return_();
    case 3:
      return Verdict::jump(pick_from(rng, kChainNames));
    default:
      return Verdict::goto_(pick_from(rng, kChainNames));
  }
}

void add_random_element(Rng& rng, Set& set) {
  Element e = random_element(rng, set.type);
  if (set.type.verdict_map) {
    e.verdict = random_verdict(rng, true);
  }
  if (!find_conflict(set, e)) {
    set.elements.insert(std::move(e));
  }
}

Set random_set(Rng& rng, std::string name) {
  Set set{.name = std::move(name), .type = random_set_type(rng)};
  std::size_t n = pick(rng, 7);
  for (std::size_t i = 0; i < n; ++i) {
    add_random_element(rng, set);
  }
  return set;
}

Match random_match(Rng& rng) {
  auto family = chance(rng, 0.5) ? Family::ipv4 : Family::ipv6;
  auto field = chance(rng, 0.5) ? Addr::saddr : Addr::daddr;
  bool negate = chance(rng, 0.2);
  switch (pick(rng, 9)) {
    case 0:
      return CtStateMatch{.states = static_cast<std::uint32_t>(1 + pick(rng, 15)),
                          .negate = negate};
    case 1:
      return NfprotoMatch{.family = family};
    case 2:
      return L4protoMatch{.protocols = {6, static_cast<std::uint8_t>(chance(rng, 0.5) ? 17 : 6)},
                          .negate = negate};
    case 3:
      return AddrSetMatch{
          .family = family, .field = field, .set = pick_from(rng, kSetNames), .negate = negate};
    case 4:
      return PortSetMatch{.set = pick_from(rng, kSetNames), .negate = negate};
    case 5:
      return FibLocalMatch{.field = field, .negate = negate};
    case 6:
      return TcpFlagsMatch{.mask = kTcpSyn | kTcpAck, .value = kTcpSyn, .negate = negate};
    case 7: {
      const std::uint32_t mask = chance(rng, 0.5) ? 0x00800000u : 0xffff0000u;
      return CtMarkMatch{
          .mask = mask, .value = chance(rng, 0.5) ? mask & 0x00810000u : 0, .negate = negate};
    }
    default:
      return IfnameMatch{.iface = chance(rng, 0.5) ? Iface::iifname : Iface::oifname,
                         .name = chance(rng, 0.5) ? "eth0" : "cni0",
                         .negate = negate};
  }
}

Rule random_rule(Rng& rng) {
  Rule rule;
  std::size_t n = pick(rng, 4);
  for (std::size_t i = 0; i < n; ++i) {
    rule.matches.push_back(random_match(rng));
  }
  if (chance(rng, 0.2)) {
    rule.statement = VmapDispatch{.family = chance(rng, 0.5) ? Family::ipv4 : Family::ipv6,
                                  .field = chance(rng, 0.5) ? Addr::saddr : Addr::daddr,
                                  .map = pick_from(rng, kSetNames)};
  } else {
    rule.statement = random_verdict(rng, true);
  }
  rule.counter = chance(rng, 0.2);
  if (chance(rng, 0.1)) {
    rule.comment = "note " + std::to_string(pick(rng, 3));
  }
  return rule;
}

Chain random_chain(Rng& rng, std::string name, std::optional<BaseChain> base) {
  Chain chain{.name = std::move(name), .base = base};
  std::size_t n = pick(rng, 5);
  for (std::size_t i = 0; i < n; ++i) {
    chain.rules.push_back(random_rule(rng));
  }
  return chain;
}

BaseChain random_base(Rng& rng, Hook hook) {
  return BaseChain{.hook = hook,
                   .priority = pick_from(rng, std::array{0, -10, 10}),
                   .policy = chance(rng, 0.7) ? ChainPolicy::accept : ChainPolicy::drop};
}

void add_random_chain(Rng& rng, Program& p, std::size_t index) {
  if (index < kChainNames.size()) {
    p.put(random_chain(rng, kChainNames[index], std::nullopt));
  } else {
    const auto& [name, hook] = kBaseChains[index - kChainNames.size()];
    p.put(random_chain(rng, name, random_base(rng, hook)));
  }
}

// Loop freedom by construction: base chains may jump anywhere and dispatch through
// maps; regular chains only jump to regular chains with a greater name and never
// dispatch (a map element may target any regular chain).
bool allowed_structure(const Chain& chain, const Rule& rule) {
  if (!chain.base && std::holds_alternative<VmapDispatch>(rule.statement)) {
    return false;
  }
  for (const std::string& target : chains_targeted_by(rule)) {
    if (!chain.base && target <= chain.name) {
      return false;
    }
  }
  return true;
}

void repair_chains(Program& p) {
  for (auto& entry : p.chains) {
    Chain& chain = entry.second;
    std::erase_if(chain.rules, [&](const Rule& rule) {
      return !allowed_structure(chain, rule) || !check_rule(rule, p).is_ok();
    });
  }
}

void repair_sets(Program& p) {
  for (auto& [name, set] : p.sets) {
    ElementSet kept;
    Set probe{.name = set.name, .type = set.type};
    for (const Element& e : set.elements) {
      if (!check_element(probe, e, p).is_ok() || find_conflict(probe, e)) {
        continue;
      }
      probe.elements.insert(e);
    }
    set.elements = std::move(probe.elements);
  }
}

Program& edit_elements(Program& p, Rng& rng) {
  if (p.sets.empty()) {
    return p;
  }
  auto it = p.sets.begin();
  std::advance(it, pick(rng, p.sets.size()));
  Set& set = it->second;
  std::size_t what = pick(rng, 3);
  if (what == 0 || set.elements.empty()) {
    add_random_element(rng, set);
  } else if (what == 1) {
    auto e = set.elements.begin();
    std::advance(e, pick(rng, set.elements.size()));
    set.elements.erase(e);
  } else if (set.type.verdict_map) {
    auto e = set.elements.begin();
    std::advance(e, pick(rng, set.elements.size()));
    Element changed = e->with(random_verdict(rng, true));
    set.elements.erase(e);
    set.elements.insert(std::move(changed));
  }
  return p;
}

void edit_structure(Program& p, Rng& rng) {
  std::string set_name = pick_from(rng, kSetNames);
  std::size_t chain_index = pick(rng, kChainNames.size() + kBaseChains.size());
  switch (pick(rng, 6)) {
    case 0:
      p.sets.erase(set_name);
      break;
    case 1:
      p.put(random_set(rng, set_name));  // new, or a new type for an existing name
      break;
    case 2:
      p.chains.erase(chain_index < kChainNames.size()
                         ? kChainNames[chain_index]
                         : kBaseChains[chain_index - kChainNames.size()].first);
      break;
    case 3:
      add_random_chain(rng, p, chain_index);
      break;
    case 4:
      if (!p.chains.empty()) {
        auto it = p.chains.begin();
        std::advance(it, pick(rng, p.chains.size()));
        auto& rules = it->second.rules;
        if (!rules.empty() && chance(rng, 0.5)) {
          rules.erase(rules.begin() + static_cast<long>(pick(rng, rules.size())));
        } else {
          rules.insert(rules.begin() + static_cast<long>(pick(rng, rules.size() + 1)),
                       random_rule(rng));
        }
      }
      break;
    default:
      for (auto& [name, chain] : p.chains) {
        if (chain.base && chance(rng, 0.5)) {
          chain.base = random_base(rng, chain.base->hook);
        }
      }
      break;
  }
}

}  // namespace

void repair(Program& p) {
  // Sets first (elements may only jump to chains that exist), then rules, which see
  // the repaired sets; a map element's target is always a regular chain, so no loop
  // can pass through a map back into a regular chain.
  repair_sets(p);
  repair_chains(p);
}

Program random_program(Rng& rng) {
  Program p;
  for (const char* name : kSetNames) {
    if (chance(rng, 0.6)) {
      p.put(random_set(rng, name));
    }
  }
  for (std::size_t i = 0; i < kChainNames.size() + kBaseChains.size(); ++i) {
    if (chance(rng, 0.6)) {
      add_random_chain(rng, p, i);
    }
  }
  repair(p);
  return p;
}

Program mutate(Program p, Rng& rng) {
  std::size_t edits = 1 + pick(rng, 3);
  for (std::size_t i = 0; i < edits; ++i) {
    if (chance(rng, 0.5)) {
      edit_elements(p, rng);
    } else {
      edit_structure(p, rng);
    }
  }
  repair(p);
  return p;
}

Program mutate_elements(Program p, Rng& rng) {
  std::size_t edits = 1 + pick(rng, 3);
  for (std::size_t i = 0; i < edits; ++i) {
    edit_elements(p, rng);
  }
  // Element edits cannot break rules; a changed verdict may target a missing chain.
  repair_sets(p);
  return p;
}

}  // namespace nft::testing
