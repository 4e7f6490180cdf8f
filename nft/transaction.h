// A transaction: the ordered operations of ONE atomic nf_tables batch on one table.
//
// Operations have "create" semantics (NLM_F_EXCL): adding what exists fails with
// EEXIST, so drift between what we think the kernel holds and what it holds shows up
// as an error instead of being papered over. The one exception is AddTable, which is
// idempotent like `nft add table`. Deleting a chain deletes its rules with it.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "nft/program.h"

namespace nft::op {

struct AddTable {
  bool operator==(const AddTable&) const = default;
};
// Deletes the table with everything in it.
struct DeleteTable {
  bool operator==(const DeleteTable&) const = default;
};
// Creates an empty set or map; elements follow in AddElements.
struct AddSet {
  std::string name;
  SetType type;
  bool operator==(const AddSet&) const = default;
};
struct DeleteSet {
  std::string name;
  SetType type;  // as the planner knew it; only used for rendering ("set" or "map")
  bool operator==(const DeleteSet&) const = default;
};
struct AddElements {
  std::string set;
  SetType type;  // as the planner knew it; used for rendering the keys
  std::vector<Element> elements;
  bool operator==(const AddElements&) const = default;
};
// Deletes by key (and key_end); verdicts are not compared.
struct DeleteElements {
  std::string set;
  SetType type;
  std::vector<Element> elements;
  bool operator==(const DeleteElements&) const = default;
};
// Creates an empty chain; its rules follow in AddRule.
struct AddChain {
  std::string name;
  std::optional<BaseChain> base;
  bool operator==(const AddChain&) const = default;
};
struct DeleteChain {
  std::string name;
  bool operator==(const DeleteChain&) const = default;
};
// Removes every rule of the chain.
struct FlushChain {
  std::string name;
  bool operator==(const FlushChain&) const = default;
};
// Appends a rule at the end of the chain.
struct AddRule {
  std::string chain;
  Rule rule;
  bool operator==(const AddRule&) const = default;
};

}  // namespace nft::op

namespace nft {

using Op =
    std::variant<op::AddTable, op::DeleteTable, op::AddSet, op::DeleteSet, op::AddElements,
                 op::DeleteElements, op::AddChain, op::DeleteChain, op::FlushChain, op::AddRule>;

// The kind of an operation, in the order of the Op alternatives.
enum class OpKind : std::uint8_t {
  add_table,
  delete_table,
  add_set,
  delete_set,
  add_elements,
  delete_elements,
  add_chain,
  delete_chain,
  flush_chain,
  add_rule,
};
inline constexpr std::size_t kOpKindCount = std::variant_size_v<Op>;

OpKind kind(const Op& op);
std::string_view to_string(OpKind kind);

struct Transaction {
  std::string table{kDefaultTable};
  std::vector<Op> ops;

  bool operator==(const Transaction&) const = default;
  bool empty() const { return ops.empty(); }
  std::size_t size() const { return ops.size(); }

  // Number of operations of each kind.
  std::array<std::size_t, kOpKindCount> count_by_kind() const;
  std::size_t count(OpKind kind) const;
  // Total elements in AddElements / DeleteElements operations.
  std::size_t elements_added() const;
  std::size_t elements_deleted() const;
  // Whether the transaction only adds and deletes set elements (no chain, rule, set
  // or table operation): the cheap kind of change (see PERFORMANCE.md).
  bool only_elements() const;
};

// Applies a transaction of element operations only (only_elements()) to `program`, as the
// kernel would: false, with `program` untouched, if it holds other operations or names a set
// the program does not have. (For keeping a program in step with an element-only batch
// without diffing whole programs.)
bool apply_elements(Program& program, const Transaction& transaction);

}  // namespace nft
