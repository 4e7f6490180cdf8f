#include "nft/validate.h"

#include <algorithm>
#include <map>
#include <set>

#include "nft/render.h"

namespace nft {
namespace {

// NFT_REG32_COUNT registers of 4 bytes.
constexpr std::size_t kMaxKeyLength = 64;

Error invalid(std::string message) {
  return make_error(Errc::invalid, std::move(message));
}

Status with_context(Status status, const std::string& context) {
  if (status) {
    return status;
  }
  Error error = std::move(status).error();
  error.message = context + ": " + error.message;
  return error;
}

std::string quoted(const std::string& name) {
  return "\"" + name + "\"";
}

// Padding bytes between the fields of a concatenation are zero in a canonical key.
bool padding_is_zero(std::span<const KeyType> type, const Bytes& key) {
  if (type.size() < 2) {
    return true;
  }
  for (std::size_t i = 0; i < type.size(); ++i) {
    auto begin = static_cast<std::ptrdiff_t>(field_offset(type, i) + field_length(type[i]));
    auto end =
        static_cast<std::ptrdiff_t>(i + 1 < type.size() ? field_offset(type, i + 1) : key.size());
    if (std::any_of(key.begin() + begin, key.begin() + end, [](auto b) { return b != 0; })) {
      return false;
    }
  }
  return true;
}

bool fields_ordered(std::span<const KeyType> type, const Bytes& first, const Bytes& last) {
  for (std::size_t i = 0; i < type.size(); ++i) {
    auto a = field_bytes(type, first, i);
    auto b = field_bytes(type, last, i);
    if (std::lexicographical_compare(b.begin(), b.end(), a.begin(), a.end())) {
      return false;
    }
  }
  return true;
}

Status check_key_bytes(const SetType& type, const Element& e) {
  std::size_t want = type.key_length();
  if (e.key.size() != want) {
    return invalid("key is " + std::to_string(e.key.size()) + " bytes, the set type needs " +
                   std::to_string(want));
  }
  if (!padding_is_zero(type.key, e.key)) {
    return invalid("non-zero padding in key");
  }
  if (!e.key_end) {
    return Status::ok();
  }
  if (!type.interval) {
    return invalid("key_end in a set without flags interval");
  }
  if (e.key_end->size() != want) {
    return invalid("key_end has the wrong size");
  }
  if (!padding_is_zero(type.key, *e.key_end)) {
    return invalid("non-zero padding in key_end");
  }
  if (*e.key_end == e.key) {
    return invalid("key_end equal to key (omit it)");
  }
  if (!fields_ordered(type.key, e.key, *e.key_end)) {
    return invalid("interval ends before it starts");
  }
  return Status::ok();
}

// A jump, goto or vmap target: an existing regular chain.
Status check_target(const Verdict& verdict, const Program& program) {
  if (!verdict.targets_chain()) {
    if (!verdict.chain.empty()) {
      return invalid("chain name on a verdict that takes none");
    }
    return Status::ok();
  }
  const Chain* chain = program.find_chain(verdict.chain);
  if (chain == nullptr) {
    return make_error(Errc::not_found, "jump to missing chain " + quoted(verdict.chain));
  }
  if (chain->base) {
    return make_error(Errc::unsupported, "jump to base chain " + quoted(verdict.chain));
  }
  return Status::ok();
}

KeyType addr_type(Family family) {
  return family == Family::ipv4 ? KeyType::ipv4_addr : KeyType::ipv6_addr;
}

Result<const Set*> lookup_set(const std::string& name, const Program& program) {
  const Set* set = program.find_set(name);
  if (set == nullptr) {
    return make_error(Errc::not_found, "missing set " + quoted(name));
  }
  return set;
}

Status check_lookup(const std::string& name, const std::vector<KeyType>& key, bool map,
                    const Program& program) {
  auto set = lookup_set(name, program);
  if (!set) {
    return set.status();
  }
  if (set.value()->type.key != key || set.value()->type.verdict_map != map) {
    return invalid("set " + quoted(name) + " has the wrong type for this lookup");
  }
  return Status::ok();
}

struct MatchChecker {
  const Program& program;

  Status operator()(const CtStateMatch& m) const {
    if (m.states == 0 || (m.states & ~kCtKnownStates) != 0) {
      return invalid("bad ct state mask");
    }
    return Status::ok();
  }
  Status operator()(const NfprotoMatch&) const { return Status::ok(); }
  Status operator()(const L4protoMatch& m) const {
    if (m.protocols.empty()) {
      return invalid("empty l4proto set");
    }
    return Status::ok();
  }
  Status operator()(const AddrSetMatch& m) const {
    return check_lookup(m.set, {addr_type(m.family)}, false, program);
  }
  Status operator()(const PortSetMatch& m) const {
    return check_lookup(m.set, {KeyType::inet_proto, KeyType::inet_service}, false, program);
  }
  Status operator()(const FibLocalMatch&) const { return Status::ok(); }
  Status operator()(const TcpFlagsMatch& m) const {
    if (m.mask == 0 || (m.value & ~m.mask) != 0) {
      return invalid("tcp flags value outside mask");
    }
    return Status::ok();
  }
  Status operator()(const CtMarkMatch& m) const {
    if (m.mask == 0 || (m.value & ~m.mask) != 0) {
      return invalid("ct mark value outside mask");
    }
    return Status::ok();
  }
  Status operator()(const IfnameMatch& m) const { return check_ifname(m.name); }
};

struct StatementChecker {
  const Program& program;

  Status operator()(const Verdict& v) const { return check_target(v, program); }
  Status operator()(const VmapDispatch& v) const {
    return check_lookup(v.map, {addr_type(v.family)}, true, program);
  }
};

// nft(8) tracks the protocol a rule has established and refuses contradictions
// ("conflicting protocols specified: ip6 vs. ip"): an ip/ip6 address or `meta nfproto`
// of another family than an earlier one, or `tcp flags` after `meta l4proto` of
// anything but tcp alone. Such rules could never match anyway.
struct ProtocolContext {
  std::optional<Family> family;
  std::optional<std::set<std::uint8_t>> l4;

  Status family_is(Family f) {
    if (family && *family != f) {
      return invalid("conflicting protocols: ip vs. ip6");
    }
    family = f;
    return Status::ok();
  }
  Status visit(const Match& m) {
    if (const auto* n = std::get_if<NfprotoMatch>(&m)) {
      return family_is(n->family);
    }
    if (const auto* a = std::get_if<AddrSetMatch>(&m)) {
      return family_is(a->family);
    }
    if (const auto* l = std::get_if<L4protoMatch>(&m); l && !l->negate) {
      l4 = l->protocols;
    }
    if (std::holds_alternative<TcpFlagsMatch>(m) && l4 &&
        *l4 != std::set<std::uint8_t>{kProtoTcp}) {
      return invalid("conflicting protocols: tcp flags after meta l4proto of another protocol");
    }
    return Status::ok();
  }
};

Status check_protocols(const Rule& rule) {
  ProtocolContext context;
  for (const Match& m : rule.matches) {
    if (auto s = context.visit(m); !s) {
      return s;
    }
  }
  if (const auto* vmap = std::get_if<VmapDispatch>(&rule.statement)) {
    return context.family_is(vmap->family);
  }
  return Status::ok();
}

Status check_set(const Set& set, const Program& program) {
  if (auto s = check_name(set.name); !s) {
    return s;
  }
  if (auto s = check_set_type(set.type); !s) {
    return s;
  }
  for (const Element& e : set.elements) {
    auto s = check_element(set, e, program);
    if (!s) {
      return with_context(std::move(s), "element " + render_element(set.type, e));
    }
  }
  return check_no_overlap(set);
}

Status check_chain(const Chain& chain, const Program& program) {
  if (auto s = check_name(chain.name); !s) {
    return s;
  }
  for (std::size_t i = 0; i < chain.rules.size(); ++i) {
    auto s = check_rule(chain.rules[i], program);
    if (!s) {
      return with_context(std::move(s), "rule " + std::to_string(i));
    }
  }
  return Status::ok();
}

// Field `index` of both elements as closed intervals; do they intersect?
bool field_overlaps(std::span<const KeyType> type, const Element& a, const Element& b,
                    std::size_t index) {
  auto a_lo = field_bytes(type, a.key, index);
  auto a_hi = field_bytes(type, element_end(a), index);
  auto b_lo = field_bytes(type, b.key, index);
  auto b_hi = field_bytes(type, element_end(b), index);
  auto less = [](auto x, auto y) {
    return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
  };
  return !less(a_hi, b_lo) && !less(b_hi, a_lo);
}

// The chain-to-chain graph the kernel walks for loop detection: jumps and gotos, and
// through a vmap every chain an element of that map jumps to.
std::map<std::string, std::vector<std::string>> jump_graph(const Program& program) {
  std::map<std::string, std::vector<std::string>> graph;
  for (const auto& [name, chain] : program.chains) {
    auto& next = graph[name];
    for (const Rule& rule : chain.rules) {
      for (std::string& target : chains_targeted_by(rule)) {
        next.push_back(std::move(target));
      }
      const auto* vmap = std::get_if<VmapDispatch>(&rule.statement);
      const Set* map = vmap ? program.find_set(vmap->map) : nullptr;
      if (map == nullptr) {
        continue;
      }
      for (const ObjectRef& ref : references_of(*map)) {
        next.push_back(ref.name);
      }
    }
  }
  return graph;
}

enum class Mark : std::uint8_t { unseen, active, done };

bool has_cycle_from(const std::string& node,
                    const std::map<std::string, std::vector<std::string>>& graph,
                    std::map<std::string, Mark>& marks, std::string& culprit) {
  marks[node] = Mark::active;
  auto it = graph.find(node);
  if (it != graph.end()) {
    for (const std::string& next : it->second) {
      Mark mark = marks[next];
      if (mark == Mark::active) {
        culprit = next;
        return true;
      }
      if (mark == Mark::unseen && has_cycle_from(next, graph, marks, culprit)) {
        return true;
      }
    }
  }
  marks[node] = Mark::done;
  return false;
}

}  // namespace

Status check_set_type(const SetType& type) {
  if (type.key.empty()) {
    return invalid("set type without key");
  }
  if (type.key_length() > kMaxKeyLength) {
    return invalid("set key longer than 64 bytes");
  }
  return Status::ok();
}

Status check_element(const Set& set, const Element& element, const Program& program) {
  if (auto s = check_key_bytes(set.type, element); !s) {
    return s;
  }
  if (set.type.verdict_map != element.verdict.has_value()) {
    return invalid(set.type.verdict_map ? "map element without verdict"
                                        : "verdict on an element of a plain set");
  }
  return element.verdict ? check_target(*element.verdict, program) : Status::ok();
}

Status check_rule(const Rule& rule, const Program& program) {
  for (const Match& m : rule.matches) {
    if (auto s = std::visit(MatchChecker{program}, m); !s) {
      return s;
    }
  }
  if (auto s = std::visit(StatementChecker{program}, rule.statement); !s) {
    return s;
  }
  if (auto s = check_protocols(rule); !s) {
    return s;
  }
  return check_comment(rule.comment);
}

bool elements_overlap(const SetType& type, const Element& a, const Element& b) {
  for (std::size_t i = 0; i < type.key.size(); ++i) {
    if (!field_overlaps(type.key, a, b, i)) {
      return false;
    }
  }
  return true;
}

Status check_no_overlap(const Set& set) {
  if (!set.type.interval) {
    return Status::ok();
  }
  const auto& elements = set.elements;
  for (auto it = elements.begin(); it != elements.end(); ++it) {
    auto first_end = field_bytes(set.type.key, element_end(*it), 0);
    for (auto next = std::next(it); next != elements.end(); ++next) {
      // Sorted by key, whose first field is most significant: once a later element
      // starts past this one's first-field end, no later one can overlap it.
      auto next_start = field_bytes(set.type.key, next->key, 0);
      if (std::lexicographical_compare(first_end.begin(), first_end.end(), next_start.begin(),
                                       next_start.end())) {
        break;
      }
      if (elements_overlap(set.type, *it, *next)) {
        return make_error(Errc::overlap, "elements " + render_element(set.type, *it) + " and " +
                                             render_element(set.type, *next) + " overlap");
      }
    }
  }
  return Status::ok();
}

std::optional<Errc> find_conflict(const Set& set, const Element& element) {
  if (set.elements.contains(element)) {
    return Errc::exists;
  }
  // Without intervals an element is its key (key_end is rejected elsewhere).
  if (!set.type.interval) {
    return std::nullopt;
  }
  if (set.type.key.size() == 1) {
    // The set holds disjoint intervals sorted by start: only the neighbours can clash.
    auto next = set.elements.lower_bound(Element{.key = element.key});
    if (next != set.elements.end() && elements_overlap(set.type, *next, element)) {
      return Errc::overlap;
    }
    if (next != set.elements.begin() && elements_overlap(set.type, *std::prev(next), element)) {
      return Errc::overlap;
    }
    return std::nullopt;
  }
  for (const Element& existing : set.elements) {
    if (elements_overlap(set.type, existing, element)) {
      return Errc::overlap;
    }
  }
  return std::nullopt;
}

Status check_no_loops(const Program& program) {
  auto graph = jump_graph(program);
  std::map<std::string, Mark> marks;
  std::string culprit;
  for (const auto& [name, next] : graph) {
    if (marks[name] != Mark::unseen) {
      continue;
    }
    if (has_cycle_from(name, graph, marks, culprit)) {
      return make_error(Errc::loop, "jumps form a loop through chain " + quoted(culprit));
    }
  }
  return Status::ok();
}

Status validate(const Program& program) {
  if (auto s = check_name(program.table); !s) {
    return with_context(std::move(s), "table");
  }
  for (const auto& [name, set] : program.sets) {
    if (name != set.name) {
      return invalid("set stored under the name " + quoted(name));
    }
    auto s = check_set(set, program);
    if (!s) {
      return with_context(std::move(s), "set " + quoted(name));
    }
  }
  for (const auto& [name, chain] : program.chains) {
    if (name != chain.name) {
      return invalid("chain stored under the name " + quoted(name));
    }
    auto s = check_chain(chain, program);
    if (!s) {
      return with_context(std::move(s), "chain " + quoted(name));
    }
  }
  return check_no_loops(program);
}

}  // namespace nft
