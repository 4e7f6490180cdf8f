// conntrack::Entry — one tracked connection as a plain value: both tuples (so DNAT and SNAT
// are visible: the original tuple holds what the first packet carried, the reply tuple what
// the answer carries, i.e. the post-DNAT destination as its source), and the kernel's
// bookkeeping (mark, zone, status, TCP state, id).
#pragma once

#include <cstdint>
#include <string>

#include "common/ip.h"

namespace conntrack {

// enum ip_conntrack_status (linux/netfilter/nf_conntrack_common.h).
inline constexpr std::uint32_t kStatusExpected = 1u << 0;  // a RELATED flow (e.g. FTP data)
inline constexpr std::uint32_t kStatusSeenReply = 1u << 1;
inline constexpr std::uint32_t kStatusAssured = 1u << 2;
inline constexpr std::uint32_t kStatusConfirmed = 1u << 3;
inline constexpr std::uint32_t kStatusSrcNat = 1u << 4;
inline constexpr std::uint32_t kStatusDstNat = 1u << 5;

// enum tcp_conntrack (linux/netfilter/nf_conntrack_tcp.h).
inline constexpr std::uint8_t kTcpSynSent = 1;
inline constexpr std::uint8_t kTcpEstablished = 3;

inline constexpr std::uint8_t kProtoIcmp = 1;
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoIcmpv6 = 58;
inline constexpr std::uint8_t kProtoSctp = 132;

// Whether the protocol's tuple carries ports (TCP, UDP, SCTP, DCCP, UDP-Lite).
bool has_ports(std::uint8_t l4proto);

// One direction of a connection. Ports in host byte order; zero for protocols without ports.
struct Tuple {
  common::IpAddr src;
  common::IpAddr dst;
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;

  auto operator<=>(const Tuple&) const = default;
  Tuple inverted() const { return {dst, src, dport, sport}; }
};

// ICMP and ICMPv6 connections are keyed by type, code and id instead of ports (original
// direction; the reply's type is the kernel's inverse of it).
struct Icmp {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  std::uint16_t id = 0;
  auto operator<=>(const Icmp&) const = default;
};

struct Entry {
  common::Family family = common::Family::kV4;  // of both tuples (conntrack never mixes)
  std::uint8_t l4proto = kProtoTcp;
  Tuple orig;
  Tuple reply;
  Icmp icmp;
  std::uint32_t mark = 0;
  std::uint16_t zone = 0;
  std::uint32_t status = 0;    // kStatus* bits
  std::uint8_t tcp_state = 0;  // TCP only: enum tcp_conntrack
  std::uint32_t id = 0;        // the kernel's id; 0 = unknown (deletes then match any id)

  bool operator==(const Entry&) const = default;

  // A connection without NAT: the reply tuple is the inverse of the original one.
  static Entry flow(std::uint8_t l4proto, const Tuple& orig);
  // What identifies the connection to the kernel: zone, family, protocol, original tuple.
  bool same_connection(const Entry& other) const;
  // The destination the filter hooks see (after DNAT): the reply tuple's source.
  const common::IpAddr& destination() const { return reply.src; }
  std::uint16_t destination_port() const { return reply.sport; }
};

// `tcp 10.0.0.1:40000 -> 10.96.0.10:80 [-> 10.244.1.5:8080] status=0xe mark=0x0 id=…`
std::string to_string(const Entry& entry);

}  // namespace conntrack
