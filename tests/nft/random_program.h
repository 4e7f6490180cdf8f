// Random valid Programs for property tests. Names and values come from small pools
// so that two programs share many objects and elements, which is where diffs get
// interesting. Every program returned passes validate().
#pragma once

#include <random>

#include "nft/program.h"

namespace nft::testing {

using Rng = std::mt19937_64;

Program random_program(Rng& rng);
// A related program: a few random edits (elements, verdicts, sets, set types,
// chains, rules, base-chain specs) followed by repair().
Program mutate(Program program, Rng& rng);
// Only element edits: add, remove, change a map element's verdict.
Program mutate_elements(Program program, Rng& rng);
// Drops whatever would make the program invalid: rules and map elements that refer
// to missing or wrongly typed objects or would form loops, clashing elements.
void repair(Program& program);

}  // namespace nft::testing
