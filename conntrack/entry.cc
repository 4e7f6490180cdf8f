#include "conntrack/entry.h"

#include <cstdio>

namespace conntrack {
namespace {

std::string endpoint(const common::IpAddr& addr, std::uint16_t port, bool ports) {
  std::string a = addr.family == common::Family::kV6 ? "[" + addr.str() + "]" : addr.str();
  return ports ? a + ":" + std::to_string(port) : a;
}

std::string proto_name(std::uint8_t p) {
  switch (p) {
    case kProtoTcp:
      return "tcp";
    case kProtoUdp:
      return "udp";
    case kProtoSctp:
      return "sctp";
    case kProtoIcmp:
      return "icmp";
    case kProtoIcmpv6:
      return "icmpv6";
    default:
      return "proto" + std::to_string(p);
  }
}

}  // namespace

bool has_ports(std::uint8_t l4proto) {
  return l4proto == kProtoTcp || l4proto == kProtoUdp || l4proto == kProtoSctp ||
         l4proto == 33 /* DCCP */ || l4proto == 136 /* UDP-Lite */;
}

Entry Entry::flow(std::uint8_t l4proto, const Tuple& orig) {
  return Entry{.family = orig.src.family,
               .l4proto = l4proto,
               .orig = orig,
               .reply = orig.inverted(),
               .status = kStatusSeenReply | kStatusAssured | kStatusConfirmed,
               .tcp_state = l4proto == kProtoTcp ? kTcpEstablished : std::uint8_t{0}};
}

bool Entry::same_connection(const Entry& other) const {
  return zone == other.zone && family == other.family && l4proto == other.l4proto &&
         orig == other.orig && icmp == other.icmp;
}

std::string to_string(const Entry& e) {
  const bool ports = has_ports(e.l4proto);
  std::string out = proto_name(e.l4proto) + " " + endpoint(e.orig.src, e.orig.sport, ports) +
                    " -> " + endpoint(e.orig.dst, e.orig.dport, ports);
  if (e.reply.src != e.orig.dst || e.reply.sport != e.orig.dport) {
    out += " [-> " + endpoint(e.reply.src, e.reply.sport, ports) + "]";
  }
  if (e.reply.dst != e.orig.src || e.reply.dport != e.orig.sport) {
    out += " [from " + endpoint(e.reply.dst, e.reply.dport, ports) + "]";
  }
  char tail[96];
  std::snprintf(tail, sizeof tail, " status=0x%x mark=0x%x zone=%u id=%u", e.status, e.mark, e.zone,
                e.id);
  return out + tail;
}

}  // namespace conntrack
