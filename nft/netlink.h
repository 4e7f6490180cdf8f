// The seam between planning and the kernel: something that takes whole transactions
// and reads our table back. The production implementation speaks nf_tables over
// netlink (libnftnl + libmnl); FakeNetlink implements it in memory for tests.
#pragma once

#include <string_view>

#include "nft/program.h"
#include "nft/result.h"
#include "nft/transaction.h"

namespace nft {

class Netlink {
 public:
  virtual ~Netlink() = default;

  // Applies the transaction as ONE atomic batch: all of it or nothing. On failure the
  // error carries the category (errno) and the index of the operation refused.
  virtual Status apply(const Transaction& transaction) = 0;

  // The current content of `table`, canonical; an empty Program if there is no table.
  virtual Result<Program> dump(std::string_view table) = 0;
};

}  // namespace nft
