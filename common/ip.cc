#include "common/ip.h"

#include <arpa/inet.h>

#include <cstring>

namespace common {
namespace {

void mask_bytes(std::array<uint8_t, 16>& bytes, int prefix, int total_bits, bool set_ones) {
  for (int bit = prefix; bit < total_bits; ++bit) {
    const auto m = static_cast<uint8_t>(0x80u >> (bit % 8));
    if (set_ones) {
      bytes[bit / 8] |= m;
    } else {
      bytes[bit / 8] &= static_cast<uint8_t>(~m);
    }
  }
}

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 3) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string s(text);
  IpAddr ip;
  if (s.find(':') == std::string::npos) {
    // inet_pton accepts only dotted quads; reject leading zeros ("010.0.0.1"), which the
    // API server rejects as ambiguous (octal in some parsers).
    size_t start = 0;
    for (int part = 0; part < 4; ++part) {
      const size_t dot = s.find('.', start);
      const std::string_view octet = std::string_view(s).substr(
          start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!all_digits(octet) || (octet.size() > 1 && octet[0] == '0')) return std::nullopt;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    ip.family = Family::kV4;
    if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
    return ip;
  }
  ip.family = Family::kV6;
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  return ip;
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::kV4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<Cidr::Parsed> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto ip = IpAddr::parse(text.substr(0, slash));
  const std::string_view len = text.substr(slash + 1);
  if (!ip || !all_digits(len) || (len.size() > 1 && len[0] == '0')) return std::nullopt;
  const int prefix = std::stoi(std::string(len));
  if (prefix > ip->bits()) return std::nullopt;
  Parsed out;
  out.cidr.prefix = prefix;
  out.cidr.addr = *ip;
  mask_bytes(out.cidr.addr.bytes, prefix, ip->bits(), false);
  out.had_host_bits = out.cidr.addr != *ip;
  return out;
}

bool Cidr::contains(const IpAddr& ip) const {
  if (ip.family != addr.family) return false;
  IpAddr masked = ip;
  mask_bytes(masked.bytes, prefix, ip.bits(), false);
  return masked == addr;
}

bool Cidr::contains(const Cidr& other) const {
  return other.prefix >= prefix && contains(other.addr);
}

IpAddr Cidr::last() const {
  IpAddr out = addr;
  mask_bytes(out.bytes, prefix, addr.bits(), true);
  return out;
}

std::string Cidr::str() const {
  return addr.str() + "/" + std::to_string(prefix);
}

}  // namespace common
