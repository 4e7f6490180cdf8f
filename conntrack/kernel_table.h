// KernelTable: the conntrack table of the network namespace of the thread that opened it
// (the socket keeps that namespace for ever — the same rule as nft::KernelNetlink::open),
// over one NETLINK_NETFILTER socket (libmnl), with messages built and parsed by
// libnetfilter_conntrack.
//
// Dumps: IPCTNL_MSG_CT_GET with NLM_F_DUMP; the family goes in nfgen_family, the mark in
// CTA_MARK/CTA_MARK_MASK, an address in a CTA_FILTER tuple filter (Linux >= 5.8). The
// kernel walks its whole hash table for every dump (measured: ≈45-50 ms at 250k entries on
// the reference machine, whatever the filter), but sends only the matching entries, so
// userspace pays for those alone. IPv6 address filters are broken in the kernel — the
// comparison is inverted (`!ipv6_addr_cmp()` in ctnetlink_filter_match_tuple): asking for
// src=fd00::1 returns every OTHER IPv6 entry (seen on 6.18) — so an IPv6 address filter is
// sent as a family-only dump and applied here (filters_addresses(kV6) is false). Every
// entry the kernel sends is checked against the filter again in userspace, which also
// keeps kernels that ignore CTA_FILTER correct.
//
// Deletes, mark changes (and inserts, for tests and benchmarks) go out many messages per
// sendmsg: the kernel processes the whole buffer inside the call and queues one ACK per
// message, which are then drained (NETLINK_CAP_ACK keeps them small). Measured at 1% of
// 250k: ≈3.4 µs per delete batched against ≈5.7 µs one round trip each.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "conntrack/table.h"

namespace conntrack {

namespace nl {
class Socket;
}

struct KernelTableOptions {
  // Messages per sendmsg for deletes and inserts.
  std::size_t batch = 1024;
};

class KernelTable final : public Table {
 public:
  // Opens a socket in the current (thread's) network namespace.
  static Result<std::unique_ptr<KernelTable>> open(KernelTableOptions options = {});
  ~KernelTable() override;
  KernelTable(const KernelTable&) = delete;
  KernelTable& operator=(const KernelTable&) = delete;

  Status dump(const DumpFilter& filter, const std::function<void(const Entry&)>& visit) override;
  Result<std::size_t> remove(const std::vector<Entry>& entries) override;
  // IPCTNL_MSG_CT_NEW without NLM_F_CREATE, with CTA_MARK and CTA_MARK_MASK, batched like
  // deletes.
  Result<std::size_t> change_mark(const std::vector<Entry>& entries, MarkChange change) override;
  bool filters_addresses(common::Family family) const override;
  // nf_conntrack_count of the namespace (read through /proc/sys of the opening netns).
  std::optional<std::size_t> size_hint() const override;
  const TableStats& stats() const override { return stats_; }
  void reset_stats() { stats_ = {}; }

  // Creates entries (IPCTNL_MSG_CT_NEW, NLM_F_EXCL), batched: for tests and benchmarks.
  // Their status keeps SEEN_REPLY and ASSURED; TCP entries get `tcp_state`.
  Status insert(std::span<const Entry> entries, std::uint32_t timeout_seconds = 3600);

 private:
  KernelTable(std::unique_ptr<nl::Socket> socket, KernelTableOptions options);
  struct BatchResult {
    std::size_t ok = 0;
    std::size_t not_found = 0;
  };
  // Writes the message for one entry at `at`, with sequence number `seq`.
  using Build = std::function<const nlmsghdr*(char* at, const Entry& entry, std::uint32_t seq)>;
  // `what` names the operation in errors; for a create, ENOENT is an error too.
  Result<BatchResult> send(std::span<const Entry> entries, const char* what, bool create,
                           const Build& build);

  std::unique_ptr<nl::Socket> socket_;
  KernelTableOptions options_;
  int count_fd_ = -1;  // /proc/sys/net/netfilter/nf_conntrack_count, opened in our netns
  TableStats stats_;
};

}  // namespace conntrack
