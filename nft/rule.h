// Structured rules: an ordered list of matches and one terminal statement.
//
// This is the vocabulary the compiler emits, the interpreter evaluates, the renderer
// prints and the batch builder turns into nf_tables expressions. Every match is a
// plain value; the semantics stated here are the ones `nft` gives the rendered text.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "nft/element.h"

namespace nft {

enum class Family : std::uint8_t { ipv4, ipv6 };
enum class Addr : std::uint8_t { saddr, daddr };
enum class Iface : std::uint8_t { iifname, oifname };

// Conntrack state bits as in the kernel's ct state register.
inline constexpr std::uint32_t kCtInvalid = 1u << 0;
inline constexpr std::uint32_t kCtEstablished = 1u << 1;
inline constexpr std::uint32_t kCtRelated = 1u << 2;
inline constexpr std::uint32_t kCtNew = 1u << 3;
// IPv6 neighbour discovery and MLD are never tracked (nf_conntrack_proto_icmpv6.c,
// noct_valid_new): without accepting `untracked`, an isolated pod loses its IPv6 neighbours.
inline constexpr std::uint32_t kCtUntracked = 1u << 6;
inline constexpr std::uint32_t kCtKnownStates =
    kCtInvalid | kCtEstablished | kCtRelated | kCtNew | kCtUntracked;

// TCP header flag bits.
inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpPsh = 0x08;
inline constexpr std::uint8_t kTcpAck = 0x10;
inline constexpr std::uint8_t kTcpUrg = 0x20;
inline constexpr std::uint8_t kTcpEcn = 0x40;
inline constexpr std::uint8_t kTcpCwr = 0x80;

// `ct state established,related`: the packet's state is one of `states`.
// Negated (`ct state != established,related`): it is none of them.
struct CtStateMatch {
  std::uint32_t states = 0;
  bool negate = false;
  bool operator==(const CtStateMatch&) const = default;
};

// `meta nfproto ipv4|ipv6`.
struct NfprotoMatch {
  Family family = Family::ipv4;
  bool operator==(const NfprotoMatch&) const = default;
};

// `meta l4proto tcp` or `meta l4proto { tcp, udp }` (negatable with !=).
struct L4protoMatch {
  std::set<std::uint8_t> protocols;
  bool negate = false;
  bool operator==(const L4protoMatch&) const = default;
};

// `ip saddr @set`, `ip6 daddr != @set`: lookup of an address in a named set whose key
// is ipv4_addr (family ipv4) or ipv6_addr (family ipv6). Implies `meta nfproto`.
struct AddrSetMatch {
  Family family = Family::ipv4;
  Addr field = Addr::saddr;
  std::string set;
  bool negate = false;
  bool operator==(const AddrSetMatch&) const = default;
};

// `meta l4proto . th dport @set` against a set keyed inet_proto . inet_service.
// Packets without a transport header never match, negated or not: the payload load
// breaks the rule (NFT_BREAK) before the comparison.
struct PortSetMatch {
  std::string set;
  bool negate = false;
  bool operator==(const PortSetMatch&) const = default;
};

// `fib saddr type local` / `fib daddr type != local`: the address is one of this host's.
struct FibLocalMatch {
  Addr field = Addr::saddr;
  bool negate = false;
  bool operator==(const FibLocalMatch&) const = default;
};

// `tcp flags & (fin | syn | rst | ack) != syn`: (flags & mask) compared with value,
// equal unless negated. Implies `meta l4proto tcp`.
struct TcpFlagsMatch {
  std::uint8_t mask = 0;
  std::uint8_t value = 0;
  bool negate = false;
  bool operator==(const TcpFlagsMatch&) const = default;
};

// `ct mark & 0x00800000 == 0x00800000`: (the connection's mark & mask) compared with value,
// equal unless negated. Packets without a conntrack entry (untracked, invalid) have mark 0.
struct CtMarkMatch {
  std::uint32_t mask = 0;
  std::uint32_t value = 0;
  bool negate = false;
  bool operator==(const CtMarkMatch&) const = default;
};

// `iifname "eth0"` / `oifname != "lo"`: exact interface name equality.
struct IfnameMatch {
  Iface iface = Iface::iifname;
  std::string name;
  bool negate = false;
  bool operator==(const IfnameMatch&) const = default;
};

using Match = std::variant<CtStateMatch, NfprotoMatch, L4protoMatch, AddrSetMatch, PortSetMatch,
                           FibLocalMatch, TcpFlagsMatch, IfnameMatch, CtMarkMatch>;

// `ip daddr vmap @map`: the verdict of the map element whose key is the address; no
// element, no verdict (the rule falls through). Implies `meta nfproto`.
struct VmapDispatch {
  Family family = Family::ipv4;
  Addr field = Addr::daddr;
  std::string map;
  bool operator==(const VmapDispatch&) const = default;
};

using Statement = std::variant<Verdict, VmapDispatch>;

// A rule matches iff every match matches (in order); then `counter` counts the packet
// and the statement applies. Rendered: <matches> [counter] <statement> [comment "…"].
struct Rule {
  std::vector<Match> matches;
  Statement statement = Verdict::accept();
  bool counter = false;
  std::string comment;

  bool operator==(const Rule&) const = default;
};

// Names a rule refers to: sets it looks up (or dispatches through) and chains it jumps to.
std::vector<std::string> sets_used_by(const Rule& rule);
std::vector<std::string> chains_targeted_by(const Rule& rule);

}  // namespace nft
