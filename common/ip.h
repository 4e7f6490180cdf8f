// IP addresses and prefixes, IPv4 and IPv6, as plain values.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace common {

enum class Family : uint8_t { kV4 = 4, kV6 = 6 };

// An address in network byte order. IPv4 uses the first 4 bytes; the rest are zero.
struct IpAddr {
  Family family = Family::kV4;
  std::array<uint8_t, 16> bytes{};

  static std::optional<IpAddr> parse(std::string_view text);
  std::string str() const;
  size_t size() const { return family == Family::kV4 ? 4 : 16; }
  int bits() const { return family == Family::kV4 ? 32 : 128; }
  auto operator<=>(const IpAddr&) const = default;
};

// A prefix (cidr). `parse` accepts host bits set and masks them, as the Kubernetes
// API server does for ipBlock (the upstream e2e suite uses "10.244.1.10/4").
struct Cidr {
  IpAddr addr;  // always masked
  int prefix = 0;

  struct Parsed;
  static std::optional<Parsed> parse(std::string_view text);
  static Cidr host(const IpAddr& ip) { return Cidr{ip, ip.bits()}; }

  bool contains(const IpAddr& ip) const;
  // True when every address of `other` is in this prefix.
  bool contains(const Cidr& other) const;
  IpAddr first() const { return addr; }
  IpAddr last() const;
  std::string str() const;
  auto operator<=>(const Cidr&) const = default;
};

struct Cidr::Parsed {
  Cidr cidr;
  bool had_host_bits = false;
};

}  // namespace common
