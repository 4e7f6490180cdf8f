#include "nft/names.h"

#include <algorithm>
#include <iterator>

namespace nft {
namespace {

// Every word src/scanner.l of nftables tokenizes as a keyword (in any scanner state),
// sorted bytewise: the union of nftables 1.0.6 (Debian 12) and a recent 1.1.x.
// clang-format off
constexpr std::string_view kKeywords[] = {
    "a-rwnd", "abort", "accept", "ackseq", "add", "ah", "alert", "all", "and", "arp", "asconf",
    "asconf-ack", "audit", "auto-merge", "avgpkt", "bridge", "broute", "burst", "bypass", "cfi",
    "cgroup", "cgroupv2", "chain", "chains", "check", "checksum", "chunk", "class", "classid",
    "code", "comment", "comp", "constant", "continue", "cookie-ack", "cookie-echo", "count",
    "counter", "counters", "cpi", "cpu", "create", "crit", "csumcov", "ct", "cum-tsn-ack", "cwr",
    "daddr", "data", "day", "dccp", "debug", "define", "dei", "delete", "describe", "destroy",
    "device", "devices", "direction", "dnat", "doff", "dport", "drop", "dscp", "dst", "dup",
    "dynamic", "echo", "ecn", "ecne", "egress", "element", "elements", "emerg", "eol", "eq",
    "err", "error", "erspan", "esp", "ether", "event", "exists", "expectation", "expiration",
    "expires", "export", "exthdr", "fanout", "fastopen", "fib", "filter", "flags", "flow",
    "flowlabel", "flowtable", "flowtables", "flush", "forward-tsn", "frag", "frag-off",
    "fully-random", "fwd", "gateway", "gbp", "gc-interval", "ge", "geneve", "get", "goto", "gre",
    "gretap", "group", "gt", "handle", "hbh", "hdrlength", "heartbeat", "heartbeat-ack", "helper",
    "helpers", "hlen", "hook", "hooks", "hoplimit", "hour", "htype", "ibrhwaddr", "ibriport",
    "ibrname", "ibrpvid", "ibrvproto", "icmp", "icmpv6", "icmpx", "id", "igmp", "iif", "iifgroup",
    "iifkind", "iifname", "iiftype", "import", "in", "inc", "include", "index", "inet", "info",
    "ingress", "init", "init-ack", "init-tag", "initial-tsn", "insert", "interval", "ip", "ip6",
    "ipsec", "jhash", "json", "jump", "l3proto", "l4proto", "label", "last", "last-entry", "le",
    "left", "level", "limit", "limits", "list", "ll", "log", "loose", "lowest-tsn", "lshift",
    "lsrr", "lt", "map", "maps", "mark", "masquerade", "max-delay", "maxseg", "md5sig", "memory",
    "meta", "meter", "meters", "mh", "minute", "missing", "mod", "monitor", "more-fragments",
    "mptcp", "mrt", "mss", "mtu", "nat", "ne", "netdev", "never", "new", "new-cum-tsn", "nexthdr",
    "nexthop", "nfproto", "nftrace", "nh", "noop", "nop", "not", "notice", "notrack", "num",
    "num-dup-tsns", "num-gap-ack-blocks", "num-inbound-streams", "num-outbound-streams", "numgen",
    "obriport", "obrname", "offload", "offset", "oif", "oifgroup", "oifkind", "oifname",
    "oiftype", "operation", "opt-type", "option", "options", "or", "original", "osf", "out",
    "param-problem", "path", "pcp", "performance", "persistent", "pkttype", "plen", "policy",
    "port", "position", "ppid", "priority", "proto-dst", "proto-src", "ptr", "ptype", "queue",
    "queue-threshold", "quota", "quotas", "ra", "random", "rate", "redefine", "redirect",
    "reject", "rename", "replace", "reply", "reqid", "reserved", "reserved2", "reset", "return",
    "right", "route", "rr", "rshift", "rt", "rt0", "rt2", "rtclassid", "rule", "rules", "ruleset",
    "sack", "sack-perm", "sack-permitted", "sack0", "sack1", "sack2", "sack3", "saddr", "sctp",
    "sdif", "sdifname", "secmark", "secmarks", "second", "secpath", "seed", "seg-left", "seqno",
    "sequence", "set", "sets", "shutdown", "shutdown-ack", "shutdown-complete", "sid", "size",
    "skgid", "skip", "skuid", "snaplen", "snat", "socket", "spnum", "sport", "srh", "ssn", "ssrr",
    "state", "status", "stream", "subtype", "symhash", "synproxy", "synproxys", "table", "tables",
    "taddr", "tag", "tcp", "th", "time", "timeout", "timestamp", "tos", "tproxy", "trace",
    "transparent", "tsecr", "tsn", "tsval", "ttl", "tunnel", "tunnels", "type", "typeof", "udp",
    "udplite", "undefine", "until", "update", "urgptr", "used", "value", "version", "vlan", "vm",
    "vmap", "vni", "vtag", "vxlan", "warn", "week", "wildcard", "window", "with", "wscale", "xml",
    "xor", "xt", "zone",
};
// clang-format on
static_assert(std::is_sorted(std::begin(kKeywords), std::end(kKeywords)));

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '-';
}

}  // namespace

bool is_nft_keyword(std::string_view word) {
  return std::binary_search(std::begin(kKeywords), std::end(kKeywords), word);
}

Status check_name(std::string_view name) {
  if (name.empty()) {
    return make_error(Errc::invalid, "empty name");
  }
  if (name.size() > kMaxNameLength) {
    return make_error(Errc::invalid, "name longer than 255 bytes: " + std::string(name));
  }
  if (!is_name_start(name.front()) || !std::all_of(name.begin(), name.end(), is_name_char)) {
    return make_error(Errc::invalid,
                      "name must match [A-Za-z_][A-Za-z0-9_-]*: \"" + std::string(name) + "\"");
  }
  if (is_nft_keyword(name)) {
    return make_error(Errc::invalid, "name is an nft keyword: " + std::string(name));
  }
  return Status::ok();
}

Status check_ifname(std::string_view name) {
  if (name.empty() || name.size() > kMaxIfnameLength) {
    return make_error(Errc::invalid, "interface name must have 1..15 bytes: " + std::string(name));
  }
  // '*' is nft's prefix wildcard ("eth*"); we only match names exactly.
  auto bad = [](char c) { return c == '"' || c == '\\' || c == '*' || c < 0x21 || c == 0x7f; };
  if (std::any_of(name.begin(), name.end(), bad)) {
    return make_error(Errc::invalid, "interface name has a character we do not match exactly");
  }
  return Status::ok();
}

Status check_comment(std::string_view comment) {
  if (comment.size() > kMaxCommentLength) {
    return make_error(Errc::invalid, "comment longer than 128 bytes");
  }
  auto bad = [](char c) { return c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\0'; };
  if (std::any_of(comment.begin(), comment.end(), bad)) {
    return make_error(Errc::invalid, "comment has a character nft cannot quote");
  }
  return Status::ok();
}

}  // namespace nft
