#include "nft/diff.h"

#include <algorithm>
#include <map>
#include <set>

namespace nft {
namespace {

using Names = std::set<std::string>;

// What happens to every object; "doomed" objects are deleted (removed, or deleted to
// be re-created), "created" ones are created (new, or re-created).
struct Plan {
  Names doomed_sets, doomed_chains;
  Names created_sets, created_chains;
  Names dirty_chains;  // kept chains that are flushed and refilled
};

template <class Object, class SameSpec>
void classify(const std::map<std::string, Object>& old,
              const std::map<std::string, Object>& desired, SameSpec same_spec, Names& doomed,
              Names& created) {
  for (const auto& [name, object] : old) {
    auto it = desired.find(name);
    if (it == desired.end() || !same_spec(object, it->second)) {
      doomed.insert(name);
    }
  }
  for (const auto& [name, object] : desired) {
    auto it = old.find(name);
    if (it == old.end() || !same_spec(it->second, object)) {
      created.insert(name);
    }
  }
}

bool refers_to_doomed(const Chain& chain, const Plan& plan) {
  for (const ObjectRef& ref : references_of(chain)) {
    const Names& doomed = ref.kind == ObjectRef::Kind::set ? plan.doomed_sets : plan.doomed_chains;
    if (doomed.contains(ref.name)) {
      return true;
    }
  }
  return false;
}

Plan make_plan(const Program& old, const Program& desired) {
  Plan plan;
  classify(
      old.sets, desired.sets, [](const Set& a, const Set& b) { return a.type == b.type; },
      plan.doomed_sets, plan.created_sets);
  classify(
      old.chains, desired.chains, [](const Chain& a, const Chain& b) { return a.base == b.base; },
      plan.doomed_chains, plan.created_chains);
  for (const auto& [name, chain] : old.chains) {
    if (plan.doomed_chains.contains(name)) {
      continue;
    }
    if (chain.rules != desired.chains.at(name).rules || refers_to_doomed(chain, plan)) {
      plan.dirty_chains.insert(name);
    }
  }
  return plan;
}

bool jumps_to(const Element& e, const Names& chains) {
  return e.verdict && e.verdict->targets_chain() && chains.contains(e.verdict->chain);
}

// Elements of `from` not present, identical (verdict included), in `other`, plus those
// that jump to a chain being deleted: that reference must go before the chain does.
std::vector<Element> elements_to_replace(const Set& from, const Set& other, const Plan& plan) {
  std::vector<Element> out;
  // Both sides are sorted by ElementOrder: one linear merge instead of a lookup per element
  // (sets of tens of thousands of pods are diffed on every change).
  const ElementOrder less;
  auto it = other.elements.begin();
  for (const Element& e : from.elements) {
    while (it != other.elements.end() && less(*it, e)) ++it;
    bool same = it != other.elements.end() && *it == e;
    if (!same || jumps_to(e, plan.doomed_chains)) {
      out.push_back(e);
    }
  }
  return out;
}

void emit_flushes_and_element_deletes(const Program& old, const Program& desired, const Plan& plan,
                                      Transaction& tx) {
  for (const std::string& name : plan.dirty_chains) {
    tx.ops.push_back(op::FlushChain{name});
  }
  for (const auto& [name, set] : old.sets) {
    if (plan.doomed_sets.contains(name)) {
      continue;
    }
    auto gone = elements_to_replace(set, desired.sets.at(name), plan);
    if (!gone.empty()) {
      tx.ops.push_back(op::DeleteElements{name, set.type, std::move(gone)});
    }
  }
}

struct DeletionGraph {
  std::map<ObjectRef, std::vector<ObjectRef>> targets;  // doomed -> doomed it refers to
  std::map<ObjectRef, std::size_t> referrers;           // doomed -> number of doomed referrers
};

DeletionGraph deletion_graph(const Program& old, const Plan& plan) {
  DeletionGraph graph;
  for (const std::string& name : plan.doomed_chains) {
    graph.referrers[ObjectRef::chain(name)] = 0;
  }
  for (const std::string& name : plan.doomed_sets) {
    graph.referrers[ObjectRef::set(name)] = 0;
  }
  for (const Reference& ref : old.references()) {
    if (!graph.referrers.contains(ref.from) || !graph.referrers.contains(ref.to)) {
      continue;
    }
    graph.targets[ref.from].push_back(ref.to);
    ++graph.referrers[ref.to];
  }
  return graph;
}

void emit_delete(const Program& old, const ObjectRef& ref, Transaction& tx) {
  if (ref.kind == ObjectRef::Kind::chain) {
    tx.ops.push_back(op::DeleteChain{ref.name});
  } else {
    tx.ops.push_back(op::DeleteSet{ref.name, old.sets.at(ref.name).type});
  }
}

// A valid program's references form no cycle (the kernel refuses loops), but should
// they: flushing the chains drops every reference a chain holds, after which maps,
// then chains, can go in any order.
void emit_cyclic_rest(const Program& old, const DeletionGraph& graph, Transaction& tx) {
  for (const auto& [ref, count] : graph.referrers) {
    if (ref.kind == ObjectRef::Kind::chain) {
      tx.ops.push_back(op::FlushChain{ref.name});
    }
  }
  for (const auto& [ref, count] : graph.referrers) {
    if (ref.kind == ObjectRef::Kind::set) {
      emit_delete(old, ref, tx);
    }
  }
  for (const auto& [ref, count] : graph.referrers) {
    if (ref.kind == ObjectRef::Kind::chain) {
      emit_delete(old, ref, tx);
    }
  }
}

// Kahn's algorithm over the doomed objects: an object is deleted once nothing doomed
// refers to it any more. Ties go chains first, then sets, each by name.
void emit_deletions(const Program& old, const Plan& plan, Transaction& tx) {
  DeletionGraph graph = deletion_graph(old, plan);
  std::set<ObjectRef> ready;
  for (const auto& [ref, count] : graph.referrers) {
    if (count == 0) {
      ready.insert(ref);
    }
  }
  while (!ready.empty()) {
    ObjectRef ref = *ready.begin();
    ready.erase(ready.begin());
    graph.referrers.erase(ref);
    emit_delete(old, ref, tx);
    for (const ObjectRef& target : graph.targets[ref]) {
      if (--graph.referrers[target] == 0) {
        ready.insert(target);
      }
    }
  }
  if (!graph.referrers.empty()) {
    emit_cyclic_rest(old, graph, tx);
  }
}

void emit_creations(const Program& old, const Program& desired, const Plan& plan, Transaction& tx) {
  for (const std::string& name : plan.created_chains) {
    tx.ops.push_back(op::AddChain{name, desired.chains.at(name).base});
  }
  for (const std::string& name : plan.created_sets) {
    tx.ops.push_back(op::AddSet{name, desired.sets.at(name).type});
  }
  for (const auto& [name, set] : desired.sets) {
    std::vector<Element> added;
    if (plan.created_sets.contains(name)) {
      added.assign(set.elements.begin(), set.elements.end());
    } else {
      added = elements_to_replace(set, old.sets.at(name), plan);
    }
    if (!added.empty()) {
      tx.ops.push_back(op::AddElements{name, set.type, std::move(added)});
    }
  }
}

void emit_rules(const Program& desired, const Plan& plan, Transaction& tx) {
  for (const auto& [name, chain] : desired.chains) {
    if (!plan.created_chains.contains(name) && !plan.dirty_chains.contains(name)) {
      continue;
    }
    for (const Rule& rule : chain.rules) {
      tx.ops.push_back(op::AddRule{name, rule});
    }
  }
}

}  // namespace

Transaction diff(const Program& old_in, const Program& desired) {
  // A program of another table says nothing about ours: start from nothing.
  const Program none{.table = desired.table};
  const Program& old = old_in.table == desired.table ? old_in : none;

  Transaction tx{.table = desired.table};
  if (old.empty() && !desired.empty()) {
    tx.ops.push_back(op::AddTable{});
  }
  Plan plan = make_plan(old, desired);
  emit_flushes_and_element_deletes(old, desired, plan, tx);
  emit_deletions(old, plan, tx);
  emit_creations(old, desired, plan, tx);
  emit_rules(desired, plan, tx);
  return tx;
}

}  // namespace nft
