// Element constructors produce the kernel's key bytes (network order, concatenated
// fields padded to 32-bit registers).
#include "nft/element.h"

#include <gtest/gtest.h>

#include "nft/render.h"

namespace nft {
namespace {

struct ParseCase {
  std::string name;
  Result<Element> (*make)(std::string_view);
  std::string input;
  Bytes key;
  std::optional<Bytes> key_end;
};

class ElementParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ElementParseTest, Bytes) {
  const ParseCase& c = GetParam();
  Result<Element> e = c.make(c.input);
  ASSERT_TRUE(e.is_ok()) << e.error().to_string();
  EXPECT_EQ(e.value().key, c.key);
  EXPECT_EQ(e.value().key_end, c.key_end);
  EXPECT_FALSE(e.value().verdict);
}

Result<Element> make_v4(std::string_view s) {
  return Element::ipv4(s);
}
Result<Element> make_v6(std::string_view s) {
  return Element::ipv6(s);
}
Result<Element> make_any(std::string_view s) {
  return Element::address(s);
}
Result<Element> make_prefix(std::string_view s) {
  return Element::prefix(s);
}

Bytes v6bytes(std::initializer_list<std::uint8_t> head, std::initializer_list<std::uint8_t> tail) {
  Bytes b(16, 0);
  std::copy(head.begin(), head.end(), b.begin());
  std::copy(tail.begin(), tail.end(), b.end() - static_cast<long>(tail.size()));
  return b;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ElementParseTest,
    ::testing::Values(
        ParseCase{"ipv4", make_v4, "10.0.0.1", {10, 0, 0, 1}, std::nullopt},
        ParseCase{"ipv4_max", make_v4, "255.255.255.255", {255, 255, 255, 255}, std::nullopt},
        ParseCase{"ipv6", make_v6, "fd00::1", v6bytes({0xfd, 0}, {1}), std::nullopt},
        ParseCase{"any_v4", make_any, "192.168.0.1", {192, 168, 0, 1}, std::nullopt},
        ParseCase{"any_v6", make_any, "2001:db8::", v6bytes({0x20, 0x01, 0x0d, 0xb8}, {}),
                  std::nullopt},
        ParseCase{"prefix_v4", make_prefix, "10.0.0.0/8", {10, 0, 0, 0}, Bytes{10, 255, 255, 255}},
        ParseCase{"prefix_host_bits_masked",
                  make_prefix,
                  "10.1.2.3/16",
                  {10, 1, 0, 0},
                  Bytes{10, 1, 255, 255}},
        ParseCase{"prefix_v4_32_is_point", make_prefix, "10.0.0.7/32", {10, 0, 0, 7}, std::nullopt},
        ParseCase{"prefix_v4_0", make_prefix, "0.0.0.0/0", {0, 0, 0, 0}, Bytes{255, 255, 255, 255}},
        ParseCase{"prefix_v4_odd", make_prefix, "10.0.0.0/25", {10, 0, 0, 0}, Bytes{10, 0, 0, 127}},
        ParseCase{"prefix_without_length", make_prefix, "10.0.0.9", {10, 0, 0, 9}, std::nullopt},
        ParseCase{
            "prefix_v6", make_prefix, "fd00::/64", v6bytes({0xfd}, {}),
            v6bytes({0xfd, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
                    {})}),
    [](const auto& info) { return info.param.name; });

struct BadCase {
  std::string name;
  Result<Element> (*make)(std::string_view);
  std::string input;
};

class ElementParseErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ElementParseErrorTest, IsInvalid) {
  const BadCase& c = GetParam();
  Result<Element> e = c.make(c.input);
  ASSERT_FALSE(e.is_ok());
  EXPECT_EQ(e.error().code, Errc::invalid);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ElementParseErrorTest,
    ::testing::Values(BadCase{"empty", make_v4, ""}, BadCase{"v6_as_v4", make_v4, "fd00::1"},
                      BadCase{"v4_as_v6", make_v6, "10.0.0.1"},
                      BadCase{"octet_overflow", make_v4, "10.0.0.256"},
                      BadCase{"trailing_junk", make_v4, "10.0.0.1x"},
                      BadCase{"prefix_too_long", make_prefix, "10.0.0.0/33"},
                      BadCase{"prefix_not_number", make_prefix, "10.0.0.0/x"},
                      BadCase{"prefix_empty_length", make_prefix, "10.0.0.0/"},
                      BadCase{"prefix_v6_too_long", make_prefix, "fd00::/129"}),
    [](const auto& info) { return info.param.name; });

TEST(ElementTest, Range) {
  Element e = Element::range("10.0.0.1", "10.0.0.9").value();
  EXPECT_EQ(e.key, (Bytes{10, 0, 0, 1}));
  EXPECT_EQ(e.key_end, (Bytes{10, 0, 0, 9}));
  EXPECT_FALSE(Element::range("10.0.0.1", "10.0.0.1").value().key_end);
  EXPECT_EQ(Element::range("10.0.0.9", "10.0.0.1").error().code, Errc::invalid);
  EXPECT_EQ(Element::range("10.0.0.1", "fd00::1").error().code, Errc::invalid);
  EXPECT_EQ(Element::range("fd00::1", "fd00::ff").value().key_end->back(), 0xff);
}

TEST(ElementTest, ProtoPortIsPaddedToRegisters) {
  EXPECT_EQ(Element::proto_port(6, 80).key, (Bytes{6, 0, 0, 0, 0, 80, 0, 0}));
  EXPECT_EQ(Element::proto_port(17, 0x1234).key, (Bytes{17, 0, 0, 0, 0x12, 0x34, 0, 0}));
  Element r = Element::proto_port_range(6, 8000, 8080);
  EXPECT_EQ(r.key, (Bytes{6, 0, 0, 0, 0x1f, 0x40, 0, 0}));
  EXPECT_EQ(r.key_end, (Bytes{6, 0, 0, 0, 0x1f, 0x90, 0, 0}));
  EXPECT_FALSE(Element::proto_port_range(6, 80, 80).key_end);
}

TEST(ElementTest, SingleFieldKeysAreUnpadded) {
  EXPECT_EQ(Element::proto(132).key, (Bytes{132}));
  EXPECT_EQ(Element::port(443).key, (Bytes{1, 187}));
  EXPECT_EQ(Element::port_range(1, 1024).key_end, (Bytes{4, 0}));
}

TEST(ElementTest, ArrayConstructors) {
  EXPECT_EQ(Element::ipv4(std::array<std::uint8_t, 4>{1, 2, 3, 4}).key, (Bytes{1, 2, 3, 4}));
  std::array<std::uint8_t, 16> a{};
  a[15] = 1;
  EXPECT_EQ(Element::ipv6(a).key, Element::ipv6("::1").value().key);
}

TEST(ElementTest, WithVerdict) {
  Element e = Element::ipv4("10.0.0.1").value().with(Verdict::jump("pod-a"));
  ASSERT_TRUE(e.verdict);
  EXPECT_EQ(*e.verdict, Verdict::jump("pod-a"));
}

TEST(ElementTest, KeyLengths) {
  struct Case {
    std::vector<KeyType> key;
    std::size_t length;
  };
  for (const Case& c : std::vector<Case>{
           {{KeyType::ipv4_addr}, 4},
           {{KeyType::ipv6_addr}, 16},
           {{KeyType::inet_proto}, 1},
           {{KeyType::inet_service}, 2},
           {{KeyType::inet_proto, KeyType::inet_service}, 8},
           {{KeyType::ipv4_addr, KeyType::inet_proto, KeyType::inet_service}, 12},
           {{KeyType::ipv6_addr, KeyType::inet_service}, 20},
       }) {
    EXPECT_EQ(key_length(c.key), c.length) << render_set_type(SetType{.key = c.key});
  }
}

TEST(ElementTest, CanonicalOrderIsNumeric) {
  ElementSet set = {Element::proto_port(17, 53), Element::proto_port(6, 8080),
                    Element::proto_port(6, 80), Element::proto_port_range(6, 80, 90)};
  std::vector<std::string> rendered;
  SetType type{.key = {KeyType::inet_proto, KeyType::inet_service}, .interval = true};
  for (const Element& e : set) {
    rendered.push_back(render_element(type, e));
  }
  EXPECT_EQ(rendered,
            (std::vector<std::string>{"tcp . 80", "tcp . 80-90", "tcp . 8080", "udp . 53"}));
}

TEST(ElementTest, VerdictIsNotIdentity) {
  ElementSet map = {Element::ipv4("10.0.0.1").value().with(Verdict::jump("a"))};
  EXPECT_FALSE(map.insert(Element::ipv4("10.0.0.1").value().with(Verdict::drop())).second);
  EXPECT_EQ(map.size(), 1u);
}

}  // namespace
}  // namespace nft
