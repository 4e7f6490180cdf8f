#include "nft/program.h"

#include <algorithm>

namespace nft {
namespace {

void sort_unique(std::vector<ObjectRef>& refs) {
  std::sort(refs.begin(), refs.end());
  refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
}

}  // namespace

Set& Program::put(Set set) {
  std::string name = set.name;
  return sets.insert_or_assign(std::move(name), std::move(set)).first->second;
}

Chain& Program::put(Chain chain) {
  std::string name = chain.name;
  return chains.insert_or_assign(std::move(name), std::move(chain)).first->second;
}

const Set* Program::find_set(const std::string& name) const {
  auto it = sets.find(name);
  return it == sets.end() ? nullptr : &it->second;
}

const Chain* Program::find_chain(const std::string& name) const {
  auto it = chains.find(name);
  return it == chains.end() ? nullptr : &it->second;
}

std::vector<ObjectRef> references_of(const Chain& chain) {
  std::vector<ObjectRef> out;
  for (const Rule& rule : chain.rules) {
    for (std::string& name : sets_used_by(rule)) {
      out.push_back(ObjectRef::set(std::move(name)));
    }
    for (std::string& name : chains_targeted_by(rule)) {
      out.push_back(ObjectRef::chain(std::move(name)));
    }
  }
  sort_unique(out);
  return out;
}

std::vector<ObjectRef> references_of(const Set& set) {
  std::vector<ObjectRef> out;
  for (const Element& e : set.elements) {
    if (e.verdict && e.verdict->targets_chain()) {
      out.push_back(ObjectRef::chain(e.verdict->chain));
    }
  }
  sort_unique(out);
  return out;
}

std::vector<Reference> Program::references() const {
  std::vector<Reference> out;
  for (const auto& [name, chain] : chains) {
    for (ObjectRef& to : references_of(chain)) {
      out.push_back({ObjectRef::chain(name), std::move(to)});
    }
  }
  for (const auto& [name, set] : sets) {
    for (ObjectRef& to : references_of(set)) {
      out.push_back({ObjectRef::set(name), std::move(to)});
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<ObjectRef> Program::referrers_of(const ObjectRef& target) const {
  std::vector<ObjectRef> out;
  for (const Reference& r : references()) {
    if (r.to == target) {
      out.push_back(r.from);
    }
  }
  return out;
}

std::vector<ObjectRef> Program::referenced_by(const ObjectRef& source) const {
  if (source.kind == ObjectRef::Kind::chain) {
    const Chain* chain = find_chain(source.name);
    return chain ? references_of(*chain) : std::vector<ObjectRef>{};
  }
  const Set* set = find_set(source.name);
  return set ? references_of(*set) : std::vector<ObjectRef>{};
}

}  // namespace nft
