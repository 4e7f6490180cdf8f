// An in-memory nf_tables for tests: it holds tables, applies transactions atomically
// and refuses what the kernel refuses, with the kernel's errno:
//   EEXIST  adding a set, chain or element that exists (we always create exclusively)
//   ENOENT  missing table, set, chain or element; a rule, jump or map element naming
//           a chain or set that does not exist
//   EBUSY   deleting a set a rule uses, or a chain a rule or map element jumps to
//   EINVAL  bad names, malformed rules, elements of the wrong size or shape, lookups
//           into a set of the wrong type
//   ENOTEMPTY an interval element overlapping another; ELOOP a cycle of jumps;
//   EOPNOTSUPP a jump to a base chain.
// Deleting a chain deletes its rules (and the references they held), as in the kernel.
// Not modelled: the jump depth limit, hardware offload, set size limits.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "nft/netlink.h"

namespace nft {

struct FakeNetlinkStats {
  std::size_t transactions = 0;  // applied
  std::size_t rejected = 0;      // refused and rolled back
  std::size_t ops = 0;           // operations in applied transactions
  std::array<std::size_t, kOpKindCount> ops_by_kind{};
  std::size_t elements_added = 0;
  std::size_t elements_deleted = 0;

  std::size_t count(OpKind kind) const { return ops_by_kind[static_cast<std::size_t>(kind)]; }
  // Netlink messages a batch costs: one per operation plus batch begin and end.
  std::size_t messages() const { return ops + 2 * transactions; }
};

class FakeNetlink final : public Netlink {
 public:
  FakeNetlink() = default;
  // Starts with `initial.table` existing and holding `initial` (not validated).
  explicit FakeNetlink(Program initial);

  Status apply(const Transaction& transaction) override;
  Result<Program> dump(std::string_view table) override;

  bool has_table(std::string_view table) const;
  const FakeNetlinkStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }
  // Incremented by every applied transaction, like the ruleset generation id.
  std::uint64_t generation() const { return generation_; }
  // The next apply() fails with `error` and changes nothing (then behaves again).
  void fail_next_apply(Error error) { injected_ = std::move(error); }

 private:
  void count(const Transaction& transaction);

  std::map<std::string, Program, std::less<>> tables_;
  FakeNetlinkStats stats_;
  std::uint64_t generation_ = 0;
  std::optional<Error> injected_;
};

}  // namespace nft
