// Planning: the one transaction that turns the table's current content into the
// desired one, touching as little as possible.
#pragma once

#include "nft/program.h"
#include "nft/transaction.h"

namespace nft {

// diff(old, desired) yields a transaction that, applied atomically to a table holding
// `old`, leaves it holding `desired`. Both programs must pass validate(). If their
// table names differ, `old` is taken to describe another table and the transaction
// builds `desired` from scratch. diff(p, p) is empty.
//
// Shape of the transaction (the order is what lets the kernel accept it as one batch):
//  1. add table            — only when `old` is empty (absent or empty table)
//  2. flush chain          — kept chains whose rules changed or that refer to an object
//                            being deleted (their rules are re-added in step 7)
//  3. delete element       — per kept set/map: elements gone or changed (a map element
//                            whose verdict changed, or that jumps to a chain being
//                            re-created, is deleted and re-added)
//  4. delete chain / set   — removed objects, and chains whose hook changed or sets whose
//                            type or flags changed; referrers before what they refer to
//  5. create chain / set   — new and re-created objects, empty
//  6. create element       — elements of new sets, added elements of kept sets
//  7. add rule             — rules of new and flushed chains, in order
// Nothing is deleted while a rule or element still refers to it, nothing is referred
// to before it exists, and a change of set elements alone yields only element ops.
Transaction diff(const Program& old, const Program& desired);

}  // namespace nft
