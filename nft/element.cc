#include "nft/element.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace nft {
namespace {

constexpr std::size_t kRegisterSize = 4;

std::size_t round_up(std::size_t n) {
  return (n + kRegisterSize - 1) / kRegisterSize * kRegisterSize;
}

Result<Bytes> parse_address(std::string_view text, int family) {
  // inet_pton wants a NUL-terminated string; copy into a bounded buffer.
  char buffer[64] = {};
  if (text.empty() || text.size() >= sizeof(buffer)) {
    return make_error(Errc::invalid, "not an IP address: \"" + std::string(text) + "\"");
  }
  std::copy(text.begin(), text.end(), buffer);
  Bytes out(family == AF_INET ? 4 : 16);
  if (inet_pton(family, buffer, out.data()) != 1) {
    const char* what = family == AF_INET ? "IPv4" : "IPv6";
    return make_error(Errc::invalid,
                      std::string("not an ") + what + " address: \"" + std::string(text) + "\"");
  }
  return out;
}

Result<Bytes> parse_any_address(std::string_view text) {
  bool v6 = text.find(':') != std::string_view::npos;
  return parse_address(text, v6 ? AF_INET6 : AF_INET);
}

Element from_range(Bytes first, Bytes last) {
  Element e;
  e.key = std::move(first);
  if (last != e.key) {
    e.key_end = std::move(last);
  }
  return e;
}

Bytes proto_port_key(std::uint8_t proto, std::uint16_t port) {
  return Bytes{
      proto, 0, 0, 0, static_cast<std::uint8_t>(port >> 8), static_cast<std::uint8_t>(port & 0xff),
      0,     0};
}

Bytes port_key(std::uint16_t port) {
  return Bytes{static_cast<std::uint8_t>(port >> 8), static_cast<std::uint8_t>(port & 0xff)};
}

}  // namespace

std::string_view to_string(KeyType type) {
  switch (type) {
    case KeyType::ipv4_addr:
      return "ipv4_addr";
    case KeyType::ipv6_addr:
      return "ipv6_addr";
    case KeyType::inet_proto:
      return "inet_proto";
    case KeyType::inet_service:
      return "inet_service";
  }
  return "?";
}

std::size_t field_length(KeyType type) {
  switch (type) {
    case KeyType::ipv4_addr:
      return 4;
    case KeyType::ipv6_addr:
      return 16;
    case KeyType::inet_proto:
      return 1;
    case KeyType::inet_service:
      return 2;
  }
  return 0;
}

std::size_t key_length(std::span<const KeyType> key) {
  if (key.size() == 1) {
    return field_length(key[0]);
  }
  std::size_t total = 0;
  for (KeyType t : key) {
    total += round_up(field_length(t));
  }
  return total;
}

std::size_t field_offset(std::span<const KeyType> key, std::size_t index) {
  std::size_t offset = 0;
  for (std::size_t i = 0; i < index && i < key.size(); ++i) {
    offset += round_up(field_length(key[i]));
  }
  return offset;
}

std::span<const std::uint8_t> field_bytes(std::span<const KeyType> type, const Bytes& key,
                                          std::size_t index) {
  std::size_t offset = field_offset(type, index);
  std::size_t length = field_length(type[index]);
  if (offset + length > key.size()) {
    return {};
  }
  return std::span<const std::uint8_t>(key).subspan(offset, length);
}

Result<Element> Element::ipv4(std::string_view address) {
  auto key = parse_address(address, AF_INET);
  if (!key) {
    return key.error();
  }
  return Element{.key = std::move(key).value()};
}

Result<Element> Element::ipv6(std::string_view address) {
  auto key = parse_address(address, AF_INET6);
  if (!key) {
    return key.error();
  }
  return Element{.key = std::move(key).value()};
}

Result<Element> Element::address(std::string_view address) {
  auto key = parse_any_address(address);
  if (!key) {
    return key.error();
  }
  return Element{.key = std::move(key).value()};
}

Element Element::ipv4(const std::array<std::uint8_t, 4>& address) {
  return Element{.key = Bytes(address.begin(), address.end())};
}

Element Element::ipv6(const std::array<std::uint8_t, 16>& address) {
  return Element{.key = Bytes(address.begin(), address.end())};
}

Result<Element> Element::prefix(std::string_view cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string_view::npos) {
    return address(cidr);
  }
  auto base = parse_any_address(cidr.substr(0, slash));
  if (!base) {
    return base.error();
  }
  Bytes first = std::move(base).value();
  std::string_view len_text = cidr.substr(slash + 1);
  unsigned len = 0;
  auto [ptr, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (ec != std::errc() || ptr != len_text.data() + len_text.size() || len_text.empty() ||
      len > first.size() * 8) {
    return make_error(Errc::invalid, "bad prefix length in \"" + std::string(cidr) + "\"");
  }
  Bytes last = first;
  for (std::size_t bit = len; bit < first.size() * 8; ++bit) {
    auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
    first[bit / 8] &= static_cast<std::uint8_t>(~mask);
    last[bit / 8] |= mask;
  }
  return from_range(std::move(first), std::move(last));
}

Result<Element> Element::range(std::string_view first, std::string_view last) {
  auto lo = parse_any_address(first);
  if (!lo) {
    return lo.error();
  }
  auto hi = parse_any_address(last);
  if (!hi) {
    return hi.error();
  }
  if (lo.value().size() != hi.value().size()) {
    return make_error(Errc::invalid, "range mixes address families: " + std::string(first) + "-" +
                                         std::string(last));
  }
  if (hi.value() < lo.value()) {
    return make_error(Errc::invalid, "range ends before it starts: " + std::string(first) + "-" +
                                         std::string(last));
  }
  return from_range(std::move(lo).value(), std::move(hi).value());
}

Element Element::proto_port(std::uint8_t proto, std::uint16_t port) {
  return Element{.key = proto_port_key(proto, port)};
}

Element Element::proto_port_range(std::uint8_t proto, std::uint16_t first, std::uint16_t last) {
  return from_range(proto_port_key(proto, first), proto_port_key(proto, last));
}

Element Element::proto(std::uint8_t proto) {
  return Element{.key = Bytes{proto}};
}

Element Element::port(std::uint16_t port) {
  return Element{.key = port_key(port)};
}

Element Element::port_range(std::uint16_t first, std::uint16_t last) {
  return from_range(port_key(first), port_key(last));
}

Element Element::with(Verdict verdict) const& {
  Element copy = *this;
  copy.verdict = std::move(verdict);
  return copy;
}

Element Element::with(Verdict verdict) && {
  this->verdict = std::move(verdict);
  return std::move(*this);
}

bool ElementOrder::operator()(const Element& a, const Element& b) const {
  if (const auto c = a.key <=> b.key; c != 0) return c < 0;
  return a.key_end < b.key_end;  // std::nullopt orders first
}

const Bytes& element_end(const Element& element) {
  return element.key_end ? *element.key_end : element.key;
}

}  // namespace nft
