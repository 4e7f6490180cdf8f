#include "nft/transaction.h"

namespace nft {

OpKind kind(const Op& op) {
  return static_cast<OpKind>(op.index());
}

std::string_view to_string(OpKind kind) {
  switch (kind) {
    case OpKind::add_table:
      return "add_table";
    case OpKind::delete_table:
      return "delete_table";
    case OpKind::add_set:
      return "add_set";
    case OpKind::delete_set:
      return "delete_set";
    case OpKind::add_elements:
      return "add_elements";
    case OpKind::delete_elements:
      return "delete_elements";
    case OpKind::add_chain:
      return "add_chain";
    case OpKind::delete_chain:
      return "delete_chain";
    case OpKind::flush_chain:
      return "flush_chain";
    case OpKind::add_rule:
      return "add_rule";
  }
  return "?";
}

std::array<std::size_t, kOpKindCount> Transaction::count_by_kind() const {
  std::array<std::size_t, kOpKindCount> counts{};
  for (const Op& op : ops) {
    ++counts[op.index()];
  }
  return counts;
}

std::size_t Transaction::count(OpKind k) const {
  return count_by_kind()[static_cast<std::size_t>(k)];
}

std::size_t Transaction::elements_added() const {
  std::size_t n = 0;
  for (const Op& op : ops) {
    if (const auto* add = std::get_if<op::AddElements>(&op)) {
      n += add->elements.size();
    }
  }
  return n;
}

std::size_t Transaction::elements_deleted() const {
  std::size_t n = 0;
  for (const Op& op : ops) {
    if (const auto* del = std::get_if<op::DeleteElements>(&op)) {
      n += del->elements.size();
    }
  }
  return n;
}

bool Transaction::only_elements() const {
  for (const Op& op : ops) {
    OpKind k = kind(op);
    if (k != OpKind::add_elements && k != OpKind::delete_elements) {
      return false;
    }
  }
  return true;
}

bool apply_elements(Program& program, const Transaction& transaction) {
  if (!transaction.only_elements()) return false;
  for (const auto& op : transaction.ops) {
    const auto* a = std::get_if<op::AddElements>(&op);
    const auto* d = std::get_if<op::DeleteElements>(&op);
    if (!program.find_set(a ? a->set : d->set)) return false;
  }
  for (const auto& op : transaction.ops) {
    if (const auto* a = std::get_if<op::AddElements>(&op)) {
      auto& elements = program.sets.at(a->set).elements;
      for (const auto& e : a->elements) elements.insert(e);
    } else if (const auto* d = std::get_if<op::DeleteElements>(&op)) {
      auto& elements = program.sets.at(d->set).elements;
      for (const auto& e : d->elements) elements.erase(e);
    }
  }
  return true;
}

}  // namespace nft
