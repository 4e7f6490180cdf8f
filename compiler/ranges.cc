#include "compiler/ranges.h"

#include <algorithm>

namespace compiler {
namespace {

using common::IpAddr;

// Big-endian arithmetic on the address bytes; callers guarantee no wrap-around.
IpAddr step(IpAddr a, int delta) {
  for (size_t i = a.size(); i-- > 0;) {
    if (delta > 0) {
      if (++a.bytes[i] != 0) break;
    } else {
      if (a.bytes[i]-- != 0) break;
    }
  }
  return a;
}

}  // namespace

std::vector<AddrRange> subtract(const common::Cidr& cidr, const std::vector<common::Cidr>& except) {
  std::vector<AddrRange> pieces{{cidr.first(), cidr.last()}};
  for (const auto& e : except) {
    if (e.addr.family != cidr.addr.family) continue;
    const IpAddr ef = e.first();
    const IpAddr el = e.last();
    std::vector<AddrRange> next;
    for (const auto& p : pieces) {
      if (el < p.first || p.last < ef) {
        next.push_back(p);
        continue;
      }
      if (p.first < ef) next.push_back({p.first, step(ef, -1)});
      if (el < p.last) next.push_back({step(el, +1), p.last});
    }
    pieces = std::move(next);
  }
  std::sort(pieces.begin(), pieces.end(),
            [](const AddrRange& a, const AddrRange& b) { return a.first < b.first; });
  return pieces;
}

nft::Element addr_element(const IpAddr& first, const IpAddr& last) {
  nft::Element e;
  e.key.assign(first.bytes.begin(), first.bytes.begin() + static_cast<long>(first.size()));
  if (first != last) {
    e.key_end = nft::Bytes(last.bytes.begin(), last.bytes.begin() + static_cast<long>(last.size()));
  }
  return e;
}

nft::Element addr_element(const IpAddr& addr) {
  return addr_element(addr, addr);
}

std::vector<PortRange> merge(std::vector<PortRange> ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<PortRange> out;
  for (const auto& r : ranges) {
    if (!out.empty() && out.back().proto == r.proto &&
        static_cast<int>(r.first) <= static_cast<int>(out.back().last) + 1) {
      out.back().last = std::max(out.back().last, r.last);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

nft::ElementSet port_elements(const std::vector<PortRange>& merged) {
  nft::ElementSet out;
  for (const auto& r : merged) {
    out.insert(r.first == r.last ? nft::Element::proto_port(r.proto, r.first)
                                 : nft::Element::proto_port_range(r.proto, r.first, r.last));
  }
  return out;
}

}  // namespace compiler
