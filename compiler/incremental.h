// Incremental compile for the commonest change of all: pods of OTHER nodes added, deleted or
// relabelled. On this node such a change can only move addresses in and out of the peer
// sets (pods-*); it is applied as element changes — microseconds, not a compile of the
// whole cluster and a diff of whole programs.
//
// update_peer_sets() gives exactly the element operations that compile() + nft::diff()
// would give (tests/compiler/incremental_test.cc checks it on random clusters), or nullopt
// when the change may need more than set elements and the caller must compile again:
// - a changed pod (before or after) is on this node (its chains, maps, guard set);
// - egress rules use named ports and a changed pod has named ports (the rules and named-*
//   sets regroup destinations by the number the name has on them);
// - the address families of the cluster changed (a rule per family in use).
// Namespace and policy changes are never passed here: they always compile again.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "nft/transaction.h"

namespace compiler {

// A pod as it was when `program` was compiled (absent: it did not exist) and as it is now
// (absent: deleted). Pods whose effective IPs changed because another pod took one over
// count as changed too.
using PodChange = policy::PodChange;

// Whether `pod` belongs to the peer set `recipe` describes, in `cluster` (for namespace
// labels): the compiler's own rule for pods-* sets.
bool peer_set_member(const PeerSetRecipe& recipe, const policy::Pod& pod,
                     const policy::Cluster& cluster);

std::optional<nft::Transaction> update_peer_sets(const nft::Program& program,
                                                 const Recipes& recipes,
                                                 const policy::Cluster& cluster,
                                                 const std::vector<PodChange>& changes,
                                                 const std::string& node);

}  // namespace compiler
