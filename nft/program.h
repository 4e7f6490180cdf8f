// nft::Program — the desired (or dumped) content of the ONE table this agent owns,
// as a plain value: deterministically ordered, comparable, renderable, diffable.
//
// An empty Program (no sets, no chains) stands both for "table absent" and "table
// present but empty": diffing from it creates the table, and nothing else we do
// needs the difference.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nft/element.h"
#include "nft/names.h"
#include "nft/rule.h"

namespace nft {

// Key type and flags of a set; changing any of this means delete and re-create.
struct SetType {
  std::vector<KeyType> key;  // more than one field: a concatenation
  bool interval = false;     // `flags interval`
  bool verdict_map = false;  // a map with data type verdict

  bool operator==(const SetType&) const = default;
  std::size_t key_length() const { return nft::key_length(key); }
};

// A named set, or a verdict map when type.verdict_map (then every element has a verdict).
struct Set {
  std::string name;
  SetType type;
  ElementSet elements;

  bool operator==(const Set&) const = default;
};

enum class Hook : std::uint8_t { input, forward, output };
enum class ChainPolicy : std::uint8_t { accept, drop };

// The hook of a base chain; always `type filter` in the inet family.
struct BaseChain {
  Hook hook = Hook::forward;
  int priority = 0;  // NF_IP_PRI_FILTER
  ChainPolicy policy = ChainPolicy::accept;

  bool operator==(const BaseChain&) const = default;
};

struct Chain {
  std::string name;
  std::optional<BaseChain> base;  // absent: a regular chain, reached by jump/goto/vmap
  std::vector<Rule> rules;

  bool operator==(const Chain&) const = default;
};

// An object of the table, as a dependency-graph node. Sets and maps share one
// namespace in the kernel, so a map is a `set` here.
struct ObjectRef {
  enum class Kind : std::uint8_t { chain, set };
  Kind kind = Kind::chain;
  std::string name;

  static ObjectRef chain(std::string name) { return {Kind::chain, std::move(name)}; }
  static ObjectRef set(std::string name) { return {Kind::set, std::move(name)}; }
  auto operator<=>(const ObjectRef&) const = default;  // NOLINT(modernize-use-nullptr)
};

// `from` holds a reference to `to`: a rule of chain `from` looks up set `to` or jumps
// to chain `to`, or an element of map `from` jumps to chain `to`. The kernel refuses
// to delete `to` (EBUSY) while such a reference exists.
struct Reference {
  ObjectRef from;
  ObjectRef to;
  auto operator<=>(const Reference&) const = default;  // NOLINT(modernize-use-nullptr)
};

struct Program {
  std::string table{kDefaultTable};
  std::map<std::string, Set> sets;  // sets and verdict maps, by name
  std::map<std::string, Chain> chains;

  bool operator==(const Program&) const = default;
  bool empty() const { return sets.empty() && chains.empty(); }

  // Insert or replace, keyed by the object's name.
  Set& put(Set set);
  Chain& put(Chain chain);
  const Set* find_set(const std::string& name) const;
  const Chain* find_chain(const std::string& name) const;

  // Every reference in the program, sorted, without duplicates.
  std::vector<Reference> references() const;
  // Objects holding a reference to `target`.
  std::vector<ObjectRef> referrers_of(const ObjectRef& target) const;
  // Objects `source` refers to.
  std::vector<ObjectRef> referenced_by(const ObjectRef& source) const;
};

// References held by one chain (its rules) or one set (its map elements).
std::vector<ObjectRef> references_of(const Chain& chain);
std::vector<ObjectRef> references_of(const Set& set);

}  // namespace nft
