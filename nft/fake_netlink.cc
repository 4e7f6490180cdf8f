#include "nft/fake_netlink.h"

#include <algorithm>

#include "nft/render.h"
#include "nft/validate.h"

namespace nft {
namespace {

std::string quoted(const std::string& name) {
  return "\"" + name + "\"";
}

Error error(Errc code, std::string message) {
  return make_error(code, std::move(message));
}

// The table as one transaction sees it while it runs; committed only if every
// operation succeeds.
struct TableState {
  Program program;
  bool exists = false;
};

bool set_in_use(const Program& program, const std::string& set) {
  for (const auto& [name, chain] : program.chains) {
    for (const Rule& rule : chain.rules) {
      auto used = sets_used_by(rule);
      if (std::find(used.begin(), used.end(), set) != used.end()) {
        return true;
      }
    }
  }
  return false;
}

Status add_elements(Program& program, const op::AddElements& o) {
  auto it = program.sets.find(o.set);
  if (it == program.sets.end()) {
    return error(Errc::not_found, "no set " + quoted(o.set));
  }
  Set& set = it->second;
  bool jumps = false;
  for (const Element& e : o.elements) {
    std::string what = "set " + quoted(o.set) + " element " + render_element(set.type, e);
    if (auto s = check_element(set, e, program); !s) {
      return error(s.error().code, what + ": " + s.error().message);
    }
    if (auto clash = find_conflict(set, e)) {
      return error(*clash, what);
    }
    set.elements.insert(e);
    jumps = jumps || (e.verdict && e.verdict->targets_chain());
  }
  return jumps ? check_no_loops(program) : Status::ok();
}

Status delete_elements(Program& program, const op::DeleteElements& o) {
  auto it = program.sets.find(o.set);
  if (it == program.sets.end()) {
    return error(Errc::not_found, "no set " + quoted(o.set));
  }
  Set& set = it->second;
  for (const Element& e : o.elements) {
    if (set.elements.erase(e) == 0) {
      return error(Errc::not_found,
                   "set " + quoted(o.set) + " has no element " + render_element_key(set.type, e));
    }
  }
  return Status::ok();
}

Status add_rule(Program& program, const op::AddRule& o) {
  auto it = program.chains.find(o.chain);
  if (it == program.chains.end()) {
    return error(Errc::not_found, "no chain " + quoted(o.chain));
  }
  if (auto s = check_rule(o.rule, program); !s) {
    return error(s.error().code, "chain " + quoted(o.chain) + ": " + s.error().message);
  }
  it->second.rules.push_back(o.rule);
  bool jumps =
      !chains_targeted_by(o.rule).empty() || std::holds_alternative<VmapDispatch>(o.rule.statement);
  return jumps ? check_no_loops(program) : Status::ok();
}

struct OpApplier {
  TableState& state;

  Status operator()(const op::AddTable&) const {
    state.exists = true;
    return Status::ok();
  }
  Status operator()(const op::DeleteTable&) const {
    state.program = Program{.table = state.program.table};
    state.exists = false;
    return Status::ok();
  }
  Status operator()(const op::AddSet& o) const {
    if (auto s = check_name(o.name); !s) {
      return s;
    }
    if (auto s = check_set_type(o.type); !s) {
      return s;
    }
    if (state.program.sets.contains(o.name)) {
      return error(Errc::exists, "set " + quoted(o.name));
    }
    state.program.put(Set{.name = o.name, .type = o.type});
    return Status::ok();
  }
  Status operator()(const op::DeleteSet& o) const {
    if (!state.program.sets.contains(o.name)) {
      return error(Errc::not_found, "no set " + quoted(o.name));
    }
    if (set_in_use(state.program, o.name)) {
      return error(Errc::busy, "set " + quoted(o.name));
    }
    state.program.sets.erase(o.name);
    return Status::ok();
  }
  Status operator()(const op::AddElements& o) const { return add_elements(state.program, o); }
  Status operator()(const op::DeleteElements& o) const { return delete_elements(state.program, o); }
  Status operator()(const op::AddChain& o) const {
    if (auto s = check_name(o.name); !s) {
      return s;
    }
    if (state.program.chains.contains(o.name)) {
      return error(Errc::exists, "chain " + quoted(o.name));
    }
    state.program.put(Chain{.name = o.name, .base = o.base});
    return Status::ok();
  }
  Status operator()(const op::DeleteChain& o) const {
    if (!state.program.chains.contains(o.name)) {
      return error(Errc::not_found, "no chain " + quoted(o.name));
    }
    if (!state.program.referrers_of(ObjectRef::chain(o.name)).empty()) {
      return error(Errc::busy, "chain " + quoted(o.name) + " is a jump target");
    }
    state.program.chains.erase(o.name);
    return Status::ok();
  }
  Status operator()(const op::FlushChain& o) const {
    auto it = state.program.chains.find(o.name);
    if (it == state.program.chains.end()) {
      return error(Errc::not_found, "no chain " + quoted(o.name));
    }
    it->second.rules.clear();
    return Status::ok();
  }
  Status operator()(const op::AddRule& o) const { return add_rule(state.program, o); }
};

Status apply_op(TableState& state, const Op& op) {
  if (!state.exists && !std::holds_alternative<op::AddTable>(op)) {
    return error(Errc::not_found,
                 "no table " + std::string(kTableFamily) + " " + state.program.table);
  }
  return std::visit(OpApplier{state}, op);
}

}  // namespace

FakeNetlink::FakeNetlink(Program initial) {
  std::string name = initial.table;
  tables_.emplace(std::move(name), std::move(initial));
}

Status FakeNetlink::apply(const Transaction& transaction) {
  if (injected_) {
    Error e = std::move(*injected_);
    injected_.reset();
    ++stats_.rejected;
    return e;
  }
  auto it = tables_.find(transaction.table);
  TableState state{
      .program = it != tables_.end() ? it->second : Program{.table = transaction.table},
      .exists = it != tables_.end()};
  for (std::size_t i = 0; i < transaction.ops.size(); ++i) {
    Status s = apply_op(state, transaction.ops[i]);
    if (!s) {
      Error e = std::move(s).error();
      e.op_index = i;
      ++stats_.rejected;
      return e;  // `state` is dropped: nothing of the transaction remains
    }
  }
  if (state.exists) {
    tables_.insert_or_assign(transaction.table, std::move(state.program));
  } else {
    tables_.erase(transaction.table);
  }
  count(transaction);
  return Status::ok();
}

void FakeNetlink::count(const Transaction& transaction) {
  ++generation_;
  ++stats_.transactions;
  stats_.ops += transaction.size();
  auto by_kind = transaction.count_by_kind();
  for (std::size_t k = 0; k < kOpKindCount; ++k) {
    stats_.ops_by_kind[k] += by_kind[k];
  }
  stats_.elements_added += transaction.elements_added();
  stats_.elements_deleted += transaction.elements_deleted();
}

Result<Program> FakeNetlink::dump(std::string_view table) {
  auto it = tables_.find(table);
  if (it == tables_.end()) {
    return Program{.table = std::string(table)};
  }
  return it->second;
}

bool FakeNetlink::has_table(std::string_view table) const {
  return tables_.contains(table);
}

}  // namespace nft
