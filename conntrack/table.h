// The seam between revocation and the kernel's conntrack table: dump entries (filtered as
// far as the kernel can) and delete some of them. KernelTable (kernel_table.h) speaks
// ctnetlink; FakeTable (fake_table.h) keeps entries in memory with the same filter semantics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "conntrack/entry.h"
#include "nft/result.h"

namespace conntrack {

using nft::Result;
using nft::Status;

// Which address of an entry an address filter compares.
enum class Field : std::uint8_t { orig_src, orig_dst, reply_src, reply_dst };

const common::IpAddr& field_of(const Entry& entry, Field field);

// One dump request: what the kernel is asked to filter (ctnetlink's CTA_FILTER tuple
// filter, CTA_MARK/CTA_MARK_MASK, nfgen_family). Every condition given must hold.
struct DumpFilter {
  std::optional<common::Family> family;  // implied by `address` when that is set
  struct Address {
    Field field = Field::orig_src;
    common::IpAddr addr;
    bool operator==(const Address&) const = default;
  };
  std::optional<Address> address;
  std::uint32_t mark = 0;  // (entry.mark & mark_mask) == mark; mark_mask 0: any mark
  std::uint32_t mark_mask = 0;

  bool operator==(const DumpFilter&) const = default;
  bool matches(const Entry& entry) const;

  static DumpFilter of(Field field, const common::IpAddr& addr) {
    return {.family = addr.family, .address = Address{field, addr}};
  }
};

// A change of the mark of existing entries, done by the kernel on the entry's current mark:
// mark = (mark & ~mask) | value, `value` within `mask` (ctnetlink's CTA_MARK with
// CTA_MARK_MASK): other bits of the mark are left alone, with no read-modify-write race.
struct MarkChange {
  std::uint32_t value = 0;
  std::uint32_t mask = 0;
  static MarkChange set(std::uint32_t bits) { return {bits, bits}; }
  static MarkChange clear(std::uint32_t bits) { return {0, bits}; }
  std::uint32_t applied_to(std::uint32_t mark) const { return (mark & ~mask) | (value & mask); }
};

struct TableStats {
  std::size_t dumps = 0;             // dump requests made
  std::size_t entries_received = 0;  // entries the kernel (or the fake) sent back
  std::size_t entries_visited = 0;   // of those, matching the filter (handed to the caller)
  std::size_t removed = 0;           // entries deleted
  std::size_t already_gone = 0;      // delete or mark requests for entries no longer there
  std::size_t marked = 0;            // entries whose mark was changed
  std::size_t messages_sent = 0;     // netlink messages (KernelTable)
  std::size_t sendmsg_calls = 0;     // batches of them (KernelTable)
};

class Table {
 public:
  virtual ~Table() = default;

  // Calls `visit` for every entry that matches `filter`, once per entry (as far as the
  // kernel's dump allows: a table that changes during the dump may skip or repeat entries).
  virtual Status dump(const DumpFilter& filter, const std::function<void(const Entry&)>& visit) = 0;

  // Deletes entries by connection (zone, family, protocol, original tuple) and, when their
  // id is non-zero, only if the id still matches — a connection opened again with the same
  // tuple after the dump is not touched. Returns how many were deleted; entries already
  // gone are not errors.
  virtual Result<std::size_t> remove(const std::vector<Entry>& entries) = 0;

  // Changes the mark of entries, found by connection (zone, family, protocol, original
  // tuple). Unlike remove(), the id is not checked: ctnetlink's update (IPCTNL_MSG_CT_NEW
  // without NLM_F_CREATE) ignores CTA_ID. Returns how many entries were updated; entries
  // already gone are not errors.
  virtual Result<std::size_t> change_mark(const std::vector<Entry>& entries, MarkChange change) = 0;

  // Whether an address filter of this family is applied by the kernel itself. If not,
  // dump() still honours it, but by dumping the whole family and filtering in userspace,
  // so callers should ask for one dump of the family rather than one per address.
  virtual bool filters_addresses(common::Family family) const = 0;

  // How many entries the table holds, if the table can tell cheaply (a planning hint).
  virtual std::optional<std::size_t> size_hint() const { return std::nullopt; }

  virtual const TableStats& stats() const = 0;

  // Convenience: the matching entries as a vector.
  Result<std::vector<Entry>> entries(const DumpFilter& filter = {});
};

}  // namespace conntrack
