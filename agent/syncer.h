// Syncer: makes the kernel's table equal to a desired Program, by diffing against what it
// believes the kernel holds and sending the difference as ONE atomic transaction.
//
// What it believes comes from a read-back (first sync, or after anything went wrong) and is
// then kept: a successful apply makes the desired program the current one. A concurrent
// change of the ruleset (the generation id moved: another table changed, or someone touched
// ours) is answered by reading back and planning again. Content in our table that we did not
// write (tampering) is repaired by replacing the table in the same atomic batch.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "nft/netlink.h"

namespace agent {

struct SyncReport {
  std::size_t ops = 0;       // operations sent (0: the kernel was already right)
  std::size_t elements = 0;  // set elements added or deleted
  int attempts = 0;          // > 1 after a concurrent change
  bool read_back = false;    // the kernel's table was read before planning
  bool repaired = false;     // foreign content was found and replaced
  // A read-back after invalidate() found the kernel's table different from what we had
  // applied (someone changed or deleted it): this sync repairs it.
  bool drift = false;
  std::string transaction;  // the batch in nft syntax, when sync() was asked to render it
  std::chrono::microseconds plan{0};
  std::chrono::microseconds apply{0};
  // What the kernel held before this sync, as far as we knew (absent after a read-back that
  // found no table, or when nothing was sent): for the conntrack cleanup, which compares the
  // two programs.
  std::optional<nft::Program> previous;
};

class Syncer {
 public:
  explicit Syncer(nft::Netlink& netlink) : netlink_(netlink) {}

  // Everything or nothing: on error the kernel keeps its previous table. Takes the program
  // by value: on success it becomes current() without a copy.
  nft::Result<SyncReport> sync(nft::Program desired, bool render = false);

  // Applies an element-only transaction computed against current() (no read-back, no
  // diff); on success current() follows it. Any failure forgets current(): the next sync
  // reads back and diffs.
  nft::Result<SyncReport> apply_elements(const nft::Transaction& tx, bool render = false);

  // Forget what we believe the kernel holds; the next sync reads it back (drift check).
  void invalidate() {
    if (current_) believed_ = std::move(current_);
    current_.reset();
  }
  // What we believe the kernel holds (absent before the first sync or after invalidate()).
  const nft::Program* current() const { return current_ ? &*current_ : nullptr; }

 private:
  nft::Status read_back(const std::string& table, SyncReport& report, nft::Transaction& prefix);

  nft::Netlink& netlink_;
  std::optional<nft::Program> current_;
  std::optional<nft::Program> believed_;  // what we had applied, until a read-back checks it
};

}  // namespace agent
