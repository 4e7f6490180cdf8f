// Set keys, verdicts and set elements.
//
// Key encoding (what Element::key holds) is exactly the bytes the kernel compares:
// network byte order; a single-field key has its natural length (ipv4_addr 4,
// ipv6_addr 16, inet_proto 1, inet_service 2); in a concatenation every field is
// left-aligned in its own 32-bit register and zero-padded to a multiple of 4 bytes,
// so `inet_proto . inet_service` is 8 bytes: proto,0,0,0, port_hi,port_lo,0,0.
// Bytewise order of keys is therefore numeric order, field by field.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nft/bytes.h"
#include "nft/result.h"

namespace nft {

// nft datatypes usable in set keys.
enum class KeyType : std::uint8_t { ipv4_addr, ipv6_addr, inet_proto, inet_service };

std::string_view to_string(KeyType type);
// Length of the value itself (4, 16, 1, 2).
std::size_t field_length(KeyType type);
// Length of the key in the kernel: a single field unpadded, a concatenation padded
// to 32-bit registers field by field.
std::size_t key_length(std::span<const KeyType> key);
// Offset of field `index` in a key of this type.
std::size_t field_offset(std::span<const KeyType> key, std::size_t index);

// IP protocol numbers we name in rendered text.
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoSctp = 132;

// Terminal statement of a rule, or data of a verdict-map element.
struct Verdict {
  enum class Kind : std::uint8_t { accept, drop, return_, jump, goto_ };

  Kind kind = Kind::accept;
  std::string chain;  // only for jump and goto

  static Verdict accept() { return {Kind::accept, {}}; }
  static Verdict drop() { return {Kind::drop, {}}; }
  static Verdict return_() { return {Kind::return_, {}}; }
  static Verdict jump(std::string chain) { return {Kind::jump, std::move(chain)}; }
  static Verdict goto_(std::string chain) { return {Kind::goto_, std::move(chain)}; }

  bool targets_chain() const { return kind == Kind::jump || kind == Kind::goto_; }
  auto operator<=>(const Verdict&) const = default;
};

// One element of a set or verdict map.
//
// In an interval set, `key_end` is the inclusive upper bound; it is absent for a single
// value (never equal to `key`: that is the canonical form). For a single-field key the
// element covers key..key_end; for a concatenation every field ranges independently
// from its value in `key` to its value in `key_end` (the kernel's pipapo semantics:
// `10.0.0.0/8 . 6 . 80-90`).
struct Element {
  Bytes key;
  std::optional<Bytes> key_end;
  std::optional<Verdict> verdict;  // present iff the element belongs to a verdict map

  bool operator==(const Element&) const = default;

  // Single addresses: "10.0.0.1", "fd00::1"; address() takes either family.
  static Result<Element> ipv4(std::string_view address);
  static Result<Element> ipv6(std::string_view address);
  static Result<Element> address(std::string_view address);
  static Element ipv4(const std::array<std::uint8_t, 4>& address);
  static Element ipv6(const std::array<std::uint8_t, 16>& address);
  // "10.0.0.0/8" -> 10.0.0.0..10.255.255.255 (host bits are masked off); a /32 or
  // /128 yields a single value. IPv4 or IPv6.
  static Result<Element> prefix(std::string_view cidr);
  // Inclusive address range of one family, first <= last.
  static Result<Element> range(std::string_view first, std::string_view last);
  // Keys of type inet_proto . inet_service.
  static Element proto_port(std::uint8_t proto, std::uint16_t port);
  static Element proto_port_range(std::uint8_t proto, std::uint16_t first, std::uint16_t last);
  // Single-field keys of type inet_proto and inet_service.
  static Element proto(std::uint8_t proto);
  static Element port(std::uint16_t port);
  static Element port_range(std::uint16_t first, std::uint16_t last);

  // The same element as a verdict-map entry.
  Element with(Verdict verdict) const&;
  Element with(Verdict verdict) &&;
};

// Canonical order of elements in a set: by key, then by key_end (absent first). The
// verdict is data, not identity: a map holds at most one element per key.
struct ElementOrder {
  bool operator()(const Element& a, const Element& b) const;
};
using ElementSet = std::set<Element, ElementOrder>;

// Decoding helpers shared by rendering and validation.
// Upper bound of the element: key_end if present, else key.
const Bytes& element_end(const Element& element);
// The bytes of field `index`, from `key` (a full key of type `type`).
std::span<const std::uint8_t> field_bytes(std::span<const KeyType> type, const Bytes& key,
                                          std::size_t index);

}  // namespace nft
