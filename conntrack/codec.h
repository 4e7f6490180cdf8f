// ctnetlink messages for Entries, built and parsed with libnetfilter_conntrack (pure: no
// sockets). Internal to conntrack/ and its tests.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <optional>

#include "conntrack/entry.h"
#include "conntrack/table.h"

namespace conntrack::codec {

// Writes at `buffer` one IPCTNL_MSG_CT_DELETE for `entry` (zone + original tuple, and the id
// when non-zero), or one IPCTNL_MSG_CT_NEW creating it (both tuples, status, TCP state,
// mark, zone, timeout). Returns the message; its length is nlmsg_len.
nlmsghdr* build_delete(char* buffer, const Entry& entry, std::uint32_t seq);
nlmsghdr* build_create(char* buffer, const Entry& entry, std::uint32_t seq,
                       std::uint32_t timeout_seconds);
// One IPCTNL_MSG_CT_NEW without NLM_F_CREATE updating the mark of the existing connection
// (zone + original tuple): CTA_MARK and CTA_MARK_MASK, applied by the kernel to its mark.
nlmsghdr* build_mark(char* buffer, const Entry& entry, std::uint32_t seq, MarkChange change);

// The part of `filter` the kernel applies: everything, except IPv6 address filters when
// `ipv6_addresses` is false (then the family alone is sent).
DumpFilter kernel_part(const DumpFilter& filter, bool ipv6_addresses);
// IPCTNL_MSG_CT_GET|NLM_F_DUMP with that filter.
nlmsghdr* build_dump(char* buffer, const DumpFilter& kernel_filter, std::uint32_t seq);

// The entry an IPCTNL_MSG_CT_NEW message (dump reply) describes; nullopt if it is not one
// of an IPv4/IPv6 connection.
std::optional<Entry> parse(const nlmsghdr* nlh);

// Upper bound of the size of one built message.
inline constexpr std::size_t kMaxMessage = 512;

}  // namespace conntrack::codec
