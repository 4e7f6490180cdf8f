// Interval arithmetic behind ipBlock and port sets: the elements of an interval set are
// non-overlapping inclusive ranges, so `cidr except [...]` is cut into pieces here and
// port ranges of one protocol are merged.
#pragma once

#include <cstdint>
#include <vector>

#include "common/ip.h"
#include "nft/element.h"

namespace compiler {

struct AddrRange {
  common::IpAddr first;
  common::IpAddr last;
  bool operator==(const AddrRange&) const = default;
};

// `cidr` minus every `except` prefix (of the same family; others are ignored), as sorted,
// disjoint, non-adjacent ranges.
std::vector<AddrRange> subtract(const common::Cidr& cidr, const std::vector<common::Cidr>& except);

// One address or an inclusive range, as an element keyed ipv4_addr or ipv6_addr.
nft::Element addr_element(const common::IpAddr& first, const common::IpAddr& last);
nft::Element addr_element(const common::IpAddr& addr);

struct PortRange {
  std::uint8_t proto = 0;
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  auto operator<=>(const PortRange&) const = default;
};

// Sorted by protocol then port, overlapping and adjacent ranges of a protocol merged.
std::vector<PortRange> merge(std::vector<PortRange> ranges);

// Elements of an `inet_proto . inet_service` interval set.
nft::ElementSet port_elements(const std::vector<PortRange>& merged);

}  // namespace compiler
