// FakeTable: a conntrack table in memory for tests, with the kernel's behaviour where the
// revoker depends on it: entries keyed by connection (zone, family, protocol, original
// tuple) and refused twice (EEXIST), ids assigned on insert, deletes that honour the id and
// count missing entries as already gone, mark changes that do not look at the id (like the
// kernel's update), and the DumpFilter semantics applied on dump
// (address filters of both families "in the kernel", unlike this kernel's IPv6 filter).
#pragma once

#include <cstdint>
#include <vector>

#include "conntrack/table.h"

namespace conntrack {

class FakeTable final : public Table {
 public:
  // Adds an entry; assigns an id if it has none. Errc::exists if the connection is there.
  Status insert(Entry entry);
  Status insert(const std::vector<Entry>& entries);

  Status dump(const DumpFilter& filter, const std::function<void(const Entry&)>& visit) override;
  Result<std::size_t> remove(const std::vector<Entry>& entries) override;
  Result<std::size_t> change_mark(const std::vector<Entry>& entries, MarkChange change) override;
  bool filters_addresses(common::Family family) const override;
  // Off by default, so that tests of the per-address plan see it; see report_size().
  std::optional<std::size_t> size_hint() const override {
    return report_size_ ? std::optional<std::size_t>(entries_.size()) : std::nullopt;
  }
  void report_size(bool on) { report_size_ = on; }
  const TableStats& stats() const override { return stats_; }

  // Pretend the kernel cannot filter this family by address (like KernelTable for IPv6).
  void set_filters_addresses(common::Family family, bool filters);
  // The next `n` dumps fail (like ENOBUFS on a kernel dump), visiting nothing.
  void fail_dumps(std::size_t n) { failing_dumps_ = n; }
  // Every entry, in insertion order.
  const std::vector<Entry>& all() const { return entries_; }
  void reset_stats() { stats_ = {}; }

 private:
  std::vector<Entry> entries_;
  bool report_size_ = false;
  std::size_t failing_dumps_ = 0;
  std::uint32_t next_id_ = 1;
  bool filters_v4_ = true;
  bool filters_v6_ = true;
  TableStats stats_;
};

}  // namespace conntrack
