// The test-side inverse of build_batch(): the messages of a batch parsed back with
// libnftnl (nftnl_*_nlmsg_parse) and decoded into a Transaction, plus the header facts
// (flags, sequence numbers) the kernel relies on.
#pragma once

#include <string>
#include <vector>

#include "nft/batch_builder.h"

namespace nft::testing {

struct ParsedBatch {
  Transaction transaction;            // one op per op index that produced messages
  std::vector<std::string> problems;  // header or attribute facts that are wrong
};

// `original` supplies what the wire does not carry back: the set types the planner
// attached to DeleteSet / element operations.
ParsedBatch parse_batch(const Batch& batch, const Transaction& original);

// What the parse of build_batch(tx) must equal: canonical rules, no empty element ops,
// DeleteSet types dropped.
Transaction expected_parse(const Transaction& tx);

}  // namespace nft::testing
