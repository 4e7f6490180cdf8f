// What makes a Program acceptable to the kernel and to `nft -f`, and canonical.
//
// validate() checks a whole program; the finer checks are the ones FakeNetlink applies
// to one operation against its evolving state, so the fake and the validator agree.
// Error categories follow the kernel: a missing referenced object is not_found, a jump
// to a base chain unsupported, a cycle of jumps loop, everything malformed invalid.
#pragma once

#include <optional>

#include "nft/program.h"
#include "nft/result.h"

namespace nft {

Status validate(const Program& program);

Status check_set_type(const SetType& type);
// Sizes, bounds, canonical form and verdict of one element of `set`; jump targets are
// looked up in `program`.
Status check_element(const Set& set, const Element& element, const Program& program);
// Structure of the rule and everything it refers to in `program`.
Status check_rule(const Rule& rule, const Program& program);
// Elements of an interval set must not overlap (nft refuses, the kernel too).
Status check_no_overlap(const Set& set);
// Jumps, gotos and verdict-map dispatches must not form a cycle (ELOOP).
Status check_no_loops(const Program& program);

// Whether two elements of a set of this type cover a common key.
bool elements_overlap(const SetType& type, const Element& a, const Element& b);
// How adding `element` to `set` would clash with what is there: exists for the same
// key (and key_end), overlap for an intersecting interval, nothing if it fits.
std::optional<Errc> find_conflict(const Set& set, const Element& element);

}  // namespace nft
