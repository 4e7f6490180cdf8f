#include "conntrack/codec.h"

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>

#include <cstring>

#include "conntrack/handles.h"

namespace conntrack::codec {
namespace {

using common::Family;
using common::IpAddr;

// Flags of CTA_FILTER_ORIG_FLAGS / CTA_FILTER_REPLY_FLAGS (net/netfilter/nf_internals.h:
// CTA_FILTER_F_CTA_IP_SRC, CTA_FILTER_F_CTA_IP_DST; not exported to userspace headers).
constexpr std::uint32_t kFilterIpSrc = 1u << 0;
constexpr std::uint32_t kFilterIpDst = 1u << 1;

std::uint8_t l3_of(Family f) {
  return f == Family::kV4 ? AF_INET : AF_INET6;
}

bool is_set(const nf_conntrack* ct, nf_conntrack_attr attr) {
  return nfct_attr_is_set(ct, attr) > 0;
}

bool is_icmp(std::uint8_t l4proto) {
  return l4proto == kProtoIcmp || l4proto == kProtoIcmpv6;
}

void set_addr(nf_conntrack* ct, int v4_attr, int v6_attr, const IpAddr& addr) {
  if (addr.family == Family::kV4) {
    std::uint32_t raw;
    std::memcpy(&raw, addr.bytes.data(), sizeof raw);
    nfct_set_attr_u32(ct, static_cast<nf_conntrack_attr>(v4_attr), raw);
  } else {
    nfct_set_attr(ct, static_cast<nf_conntrack_attr>(v6_attr), addr.bytes.data());
  }
}

IpAddr get_addr(const nf_conntrack* ct, Family f, int v4_attr, int v6_attr) {
  IpAddr addr{.family = f};
  if (f == Family::kV4) {
    const std::uint32_t raw = nfct_get_attr_u32(ct, static_cast<nf_conntrack_attr>(v4_attr));
    std::memcpy(addr.bytes.data(), &raw, sizeof raw);
  } else if (const void* p = nfct_get_attr(ct, static_cast<nf_conntrack_attr>(v6_attr))) {
    std::memcpy(addr.bytes.data(), p, 16);
  }
  return addr;
}

// The original tuple and zone: what identifies the connection.
nl::ConntrackPtr identity(const Entry& e) {
  nl::ConntrackPtr ct(nfct_new());
  nf_conntrack* c = ct.get();
  nfct_set_attr_u8(c, ATTR_ORIG_L3PROTO, l3_of(e.family));
  set_addr(c, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC, e.orig.src);
  set_addr(c, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST, e.orig.dst);
  nfct_set_attr_u8(c, ATTR_ORIG_L4PROTO, e.l4proto);
  if (has_ports(e.l4proto)) {
    nfct_set_attr_u16(c, ATTR_ORIG_PORT_SRC, htons(e.orig.sport));
    nfct_set_attr_u16(c, ATTR_ORIG_PORT_DST, htons(e.orig.dport));
  } else if (is_icmp(e.l4proto)) {
    nfct_set_attr_u8(c, ATTR_ICMP_TYPE, e.icmp.type);
    nfct_set_attr_u8(c, ATTR_ICMP_CODE, e.icmp.code);
    nfct_set_attr_u16(c, ATTR_ICMP_ID, htons(e.icmp.id));
  }
  if (e.zone != 0) {
    nfct_set_attr_u16(c, ATTR_ZONE, e.zone);
  }
  return ct;
}

void set_reply(nf_conntrack* c, const Entry& e) {
  // Derive the reply tuple (for ICMP: the reply type), then state the addresses and ports
  // of the entry's own reply tuple, which differ from the inverse under NAT.
  nfct_setobjopt(c, NFCT_SOPT_SETUP_REPLY);
  set_addr(c, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, e.reply.src);
  set_addr(c, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST, e.reply.dst);
  if (has_ports(e.l4proto)) {
    nfct_set_attr_u16(c, ATTR_REPL_PORT_SRC, htons(e.reply.sport));
    nfct_set_attr_u16(c, ATTR_REPL_PORT_DST, htons(e.reply.dport));
  }
}

nlmsghdr* header(char* buffer, std::uint16_t type, std::uint16_t flags, std::uint32_t seq,
                 std::uint8_t family) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buffer);
  nlh->nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | type);
  nlh->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
  nlh->nlmsg_seq = seq;
  auto* g = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  g->nfgen_family = family;
  g->version = NFNETLINK_V0;
  g->res_id = 0;
  return nlh;
}

}  // namespace

nlmsghdr* build_delete(char* buffer, const Entry& entry, std::uint32_t seq) {
  nlmsghdr* nlh = header(buffer, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, seq, l3_of(entry.family));
  nfct_nlmsg_build(nlh, identity(entry).get());
  if (entry.id != 0) {
    // nfct_nlmsg_build leaves ATTR_ID out. The kernel refuses the delete (ENOENT) if the
    // connection under this tuple is not the one we dumped (the same bits it sent us).
    mnl_attr_put_u32(nlh, CTA_ID, htonl(entry.id));
  }
  return nlh;
}

nlmsghdr* build_mark(char* buffer, const Entry& entry, std::uint32_t seq, MarkChange change) {
  // No NLM_F_CREATE: the kernel updates the connection it finds by tuple (either direction)
  // or answers ENOENT; it ignores CTA_ID here. Only the tuple and zone go with the mark: a
  // CTA_STATUS without SEEN_REPLY or ASSURED would be refused (EBUSY).
  nlmsghdr* nlh = header(buffer, IPCTNL_MSG_CT_NEW, NLM_F_ACK, seq, l3_of(entry.family));
  nfct_nlmsg_build(nlh, identity(entry).get());
  // ctnetlink_change_mark(): mark = (mark & ~CTA_MARK_MASK) ^ CTA_MARK.
  mnl_attr_put_u32(nlh, CTA_MARK, htonl(change.value & change.mask));
  mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(change.mask));
  return nlh;
}

nlmsghdr* build_create(char* buffer, const Entry& entry, std::uint32_t seq,
                       std::uint32_t timeout_seconds) {
  nl::ConntrackPtr ct = identity(entry);
  nf_conntrack* c = ct.get();
  set_reply(c, entry);
  nfct_set_attr_u32(c, ATTR_TIMEOUT, timeout_seconds);
  nfct_set_attr_u32(c, ATTR_STATUS, entry.status & (kStatusSeenReply | kStatusAssured));
  if (entry.mark != 0) {
    nfct_set_attr_u32(c, ATTR_MARK, entry.mark);
  }
  if (entry.l4proto == kProtoTcp && entry.tcp_state != 0) {
    nfct_set_attr_u8(c, ATTR_TCP_STATE, entry.tcp_state);
  }
  nlmsghdr* nlh = header(buffer, IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, seq,
                         l3_of(entry.family));
  nfct_nlmsg_build(nlh, c);
  return nlh;
}

DumpFilter kernel_part(const DumpFilter& filter, bool ipv6_addresses) {
  DumpFilter k = filter;
  if (k.address) {
    k.family = k.address->addr.family;
    if (k.address->addr.family == Family::kV6 && !ipv6_addresses) {
      k.address.reset();
    }
  }
  return k;
}

nlmsghdr* build_dump(char* buffer, const DumpFilter& f, std::uint32_t seq) {
  const std::uint8_t family = f.family ? l3_of(*f.family) : AF_UNSPEC;
  nlmsghdr* nlh = header(buffer, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq, family);
  if (f.address) {
    const bool orig = f.address->field == Field::orig_src || f.address->field == Field::orig_dst;
    const bool src = f.address->field == Field::orig_src || f.address->field == Field::reply_src;
    const IpAddr& a = f.address->addr;
    nlattr* tuple = mnl_attr_nest_start(nlh, orig ? CTA_TUPLE_ORIG : CTA_TUPLE_REPLY);
    nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    const int v4 = src ? CTA_IP_V4_SRC : CTA_IP_V4_DST;
    const int v6 = src ? CTA_IP_V6_SRC : CTA_IP_V6_DST;
    mnl_attr_put(nlh, static_cast<std::uint16_t>(a.family == Family::kV4 ? v4 : v6), a.size(),
                 a.bytes.data());
    mnl_attr_nest_end(nlh, ip);
    mnl_attr_nest_end(nlh, tuple);
    nlattr* filter = mnl_attr_nest_start(nlh, CTA_FILTER);
    mnl_attr_put_u32(nlh, orig ? CTA_FILTER_ORIG_FLAGS : CTA_FILTER_REPLY_FLAGS,
                     src ? kFilterIpSrc : kFilterIpDst);
    mnl_attr_nest_end(nlh, filter);
  }
  if (f.mark_mask != 0) {
    mnl_attr_put_u32(nlh, CTA_MARK, htonl(f.mark));
    mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(f.mark_mask));
  }
  return nlh;
}

std::optional<Entry> parse(const nlmsghdr* nlh) {
  nl::ConntrackPtr ct(nfct_new());
  const nf_conntrack* c = ct.get();
  if (nfct_nlmsg_parse(nlh, ct.get()) < 0 || !is_set(c, ATTR_ORIG_L3PROTO)) {
    return std::nullopt;
  }
  const std::uint8_t l3 = nfct_get_attr_u8(c, ATTR_ORIG_L3PROTO);
  if (l3 != AF_INET && l3 != AF_INET6) {
    return std::nullopt;
  }
  Entry e{.family = l3 == AF_INET ? Family::kV4 : Family::kV6,
          .l4proto = nfct_get_attr_u8(c, ATTR_ORIG_L4PROTO)};
  e.orig.src = get_addr(c, e.family, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC);
  e.orig.dst = get_addr(c, e.family, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST);
  e.reply.src = get_addr(c, e.family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC);
  e.reply.dst = get_addr(c, e.family, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST);
  if (has_ports(e.l4proto)) {
    e.orig.sport = ntohs(nfct_get_attr_u16(c, ATTR_ORIG_PORT_SRC));
    e.orig.dport = ntohs(nfct_get_attr_u16(c, ATTR_ORIG_PORT_DST));
    e.reply.sport = ntohs(nfct_get_attr_u16(c, ATTR_REPL_PORT_SRC));
    e.reply.dport = ntohs(nfct_get_attr_u16(c, ATTR_REPL_PORT_DST));
  } else if (is_icmp(e.l4proto)) {
    e.icmp = {.type = nfct_get_attr_u8(c, ATTR_ICMP_TYPE),
              .code = nfct_get_attr_u8(c, ATTR_ICMP_CODE),
              .id = ntohs(nfct_get_attr_u16(c, ATTR_ICMP_ID))};
  }
  auto u32 = [&](nf_conntrack_attr a) { return is_set(c, a) ? nfct_get_attr_u32(c, a) : 0u; };
  e.mark = u32(ATTR_MARK);
  e.status = u32(ATTR_STATUS);
  e.id = u32(ATTR_ID);
  e.zone = is_set(c, ATTR_ZONE) ? nfct_get_attr_u16(c, ATTR_ZONE) : std::uint16_t{0};
  if (e.l4proto == kProtoTcp && is_set(c, ATTR_TCP_STATE)) {
    e.tcp_state = nfct_get_attr_u8(c, ATTR_TCP_STATE);
  }
  return e;
}

}  // namespace conntrack::codec
