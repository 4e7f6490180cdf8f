#include "conntrack/scope.h"

#include <algorithm>
#include <iterator>
#include <string>

namespace conntrack {
namespace {

using nft::Chain;
using nft::Program;
using nft::Rule;
using nft::Set;
using Names = std::set<std::string>;

template <class Map>
Names names_of(const Map& a, const Map& b) {
  Names out;
  for (const auto& [name, _] : a) out.insert(name);
  for (const auto& [name, _] : b) out.insert(name);
  return out;
}

Names changed_sets(const Program& before, const Program& after) {
  Names out;
  for (const std::string& name : names_of(before.sets, after.sets)) {
    const Set* a = before.find_set(name);
    const Set* b = after.find_set(name);
    if (!a || !b || !(*a == *b)) out.insert(name);
  }
  return out;
}

bool targets(const nft::Verdict& v, const Names& chains) {
  return v.targets_chain() && chains.count(v.chain) > 0;
}

// Whether an unchanged chain behaves differently because of what it uses.
bool uses_changed(const Chain& chain, const Program& program, const Names& sets,
                  const Names& chains) {
  for (const Rule& rule : chain.rules) {
    for (const std::string& s : nft::sets_used_by(rule)) {
      if (sets.count(s)) return true;
    }
    for (const std::string& c : nft::chains_targeted_by(rule)) {
      if (chains.count(c)) return true;
    }
    if (const auto* d = std::get_if<nft::VmapDispatch>(&rule.statement)) {
      const Set* map = program.find_set(d->map);
      for (const nft::Element& e : map ? map->elements : nft::ElementSet{}) {
        if (e.verdict && targets(*e.verdict, chains)) return true;
      }
    }
  }
  return false;
}

// Regular chains whose behaviour may differ between the programs (base chains are judged
// rule by rule in scope_of_change).
Names changed_chains(const Program& before, const Program& after, const Names& sets) {
  Names changed;
  const Names all = names_of(before.chains, after.chains);
  for (const std::string& name : all) {
    const Chain* a = before.find_chain(name);
    const Chain* b = after.find_chain(name);
    if (!a || !b || !(*a == *b)) changed.insert(name);
  }
  for (bool grew = true; grew;) {
    grew = false;
    for (const std::string& name : all) {
      const Chain* c = after.find_chain(name);
      if (changed.count(name) || c->base || !uses_changed(*c, after, sets, changed)) continue;
      changed.insert(name);
      grew = true;
    }
  }
  return changed;
}

// Whether the rule can match the first packet of a flow as revocation models it: `ct state`
// new (or related, for expected flows), no ct mark and, for TCP, a bare SYN.
bool can_match_first_packet(const Rule& rule) {
  for (const nft::Match& m : rule.matches) {
    if (const auto* t = std::get_if<nft::TcpFlagsMatch>(&m)) {
      if (((nft::kTcpSyn & t->mask) == t->value) == t->negate) return false;
    } else if (const auto* k = std::get_if<nft::CtMarkMatch>(&m)) {
      if ((k->value == 0) == k->negate) return false;  // the first packet has mark 0
    } else if (const auto* c = std::get_if<nft::CtStateMatch>(&m)) {
      const bool is_new = ((c->states & nft::kCtNew) != 0) != c->negate;
      const bool related = ((c->states & nft::kCtRelated) != 0) != c->negate;
      if (!is_new && !related) return false;
    }
  }
  return true;
}

bool exact_addresses(const Set& s) {
  return !s.type.interval && !s.type.verdict_map && s.type.key.size() == 1 &&
         (s.type.key[0] == nft::KeyType::ipv4_addr || s.type.key[0] == nft::KeyType::ipv6_addr);
}

common::IpAddr address_of(const nft::Bytes& key) {
  common::IpAddr a{.family = key.size() == 4 ? common::Family::kV4 : common::Family::kV6};
  std::copy(key.begin(), key.end(), a.bytes.begin());
  return a;
}

std::set<common::IpAddr>& side(Scope& scope, nft::Addr field) {
  return field == nft::Addr::saddr ? scope.sources : scope.destinations;
}

// Elements added or removed in an exact-address set; false if the set is not one.
bool address_diff(const Set* a, const Set* b, nft::Addr field, Scope& scope) {
  if (!a || !b || !(a->type == b->type) || !exact_addresses(*a)) return false;
  std::vector<nft::Element> diff;
  std::set_symmetric_difference(a->elements.begin(), a->elements.end(), b->elements.begin(),
                                b->elements.end(), std::back_inserter(diff), nft::ElementOrder{});
  for (const nft::Element& e : diff) side(scope, field).insert(address_of(e.key));
  return true;
}

const nft::Element* find(const Set& map, const nft::Bytes& key) {
  const auto it = map.elements.find(nft::Element{.key = key});
  return it == map.elements.end() ? nullptr : &*it;
}

// Keys of a dispatch map whose verdict changed, or whose chain changed.
bool dispatch_diff(const Set* a, const Set* b, nft::Addr field, const Names& chains, Scope& scope) {
  if (!a || !b || !(a->type == b->type) || a->type.interval || a->type.key.size() != 1) {
    return false;
  }
  for (const auto& [one, other] : {std::pair{a, b}, std::pair{b, a}}) {
    for (const nft::Element& e : one->elements) {
      const nft::Element* twin = find(*other, e.key);
      if (!twin || twin->verdict != e.verdict || (e.verdict && targets(*e.verdict, chains))) {
        side(scope, field).insert(address_of(e.key));
      }
    }
  }
  return true;
}

// Adds what one (unchanged) base-chain rule contributes; false means "everything".
bool rule_scope(const Rule& rule, const Program& before, const Program& after, const Names& sets,
                const Names& chains, Scope& scope) {
  if (!can_match_first_packet(rule)) return true;
  for (const nft::Match& m : rule.matches) {
    if (const auto* a = std::get_if<nft::AddrSetMatch>(&m); a && sets.count(a->set)) {
      if (!address_diff(before.find_set(a->set), after.find_set(a->set), a->field, scope))
        return false;
    } else if (const auto* p = std::get_if<nft::PortSetMatch>(&m); p && sets.count(p->set)) {
      return false;
    }
  }
  if (const auto* v = std::get_if<nft::Verdict>(&rule.statement)) return !targets(*v, chains);
  const auto& d = std::get<nft::VmapDispatch>(rule.statement);
  return dispatch_diff(before.find_set(d.map), after.find_set(d.map), d.field, chains, scope);
}

}  // namespace

void Scope::merge(const Scope& other) {
  everything = everything || other.everything;
  sources.insert(other.sources.begin(), other.sources.end());
  destinations.insert(other.destinations.begin(), other.destinations.end());
}

Scope scope_of_change(const Program& before, const Program& after) {
  if (before.table != after.table) return Scope::all();
  const Names sets = changed_sets(before, after);
  const Names chains = changed_chains(before, after, sets);
  Scope scope;
  for (const std::string& name : names_of(before.chains, after.chains)) {
    const Chain* a = before.find_chain(name);
    const Chain* b = after.find_chain(name);
    if (!(a && a->base) && !(b && b->base)) continue;
    if (!a || !b || !(*a == *b)) return Scope::all();
    for (const Rule& rule : b->rules) {
      if (!rule_scope(rule, before, after, sets, chains, scope)) return Scope::all();
    }
  }
  return scope;
}

}  // namespace conntrack
