// common/ip: addresses and prefixes, IPv4 and IPv6.
#include "common/ip.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace common {
namespace {

struct IpCase {
  const char* text;
  bool ok;
  Family family = Family::kV4;
  const char* canonical = "";  // str() of the parsed address
};

TEST(IpAddrTest, ParseTable) {
  const IpCase cases[] = {
      {"10.0.0.1", true, Family::kV4, "10.0.0.1"},
      {"0.0.0.0", true, Family::kV4, "0.0.0.0"},
      {"255.255.255.255", true, Family::kV4, "255.255.255.255"},
      {"192.168.100.200", true, Family::kV4, "192.168.100.200"},
      {"256.0.0.1", false},
      {"1.2.3", false},
      {"1.2.3.4.5", false},
      {"1..2.3", false},
      {"1.2.3.", false},
      {".1.2.3", false},
      {"a.b.c.d", false},
      {"-1.2.3.4", false},
      {"1.2.3.4 ", false},
      {" 1.2.3.4", false},
      {"", false},
      {"1234.1.1.1", false},
      // The API server rejects leading zeros in IPv4 octets (ambiguous: octal for some parsers).
      {"010.0.0.1", false},
      {"10.0.0.01", false},
      {"10.00.0.1", false},
      {"::", true, Family::kV6, "::"},
      {"::1", true, Family::kV6, "::1"},
      {"2001:db8::1", true, Family::kV6, "2001:db8::1"},
      {"2001:DB8::1", true, Family::kV6, "2001:db8::1"},
      {"2001:0db8:0000:0000:0000:0000:0000:0001", true, Family::kV6, "2001:db8::1"},
      {"fd00::1:1", true, Family::kV6, "fd00::1:1"},
      {"::ffff:10.0.0.1", true, Family::kV6, "::ffff:10.0.0.1"},
      {"2001:db8::g", false},
      {"1:2:3:4:5:6:7:8:9", false},
      {"2001:db8::1::2", false},
      {":::", false},
      {"2001:db8::1/64", false},
      {"fe80::1%eth0", false},
      {"[::1]", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto ip = IpAddr::parse(c.text);
    ASSERT_EQ(ip.has_value(), c.ok);
    if (!c.ok) continue;
    EXPECT_EQ(ip->family, c.family);
    EXPECT_EQ(ip->str(), c.canonical);
    EXPECT_EQ(ip->size(), c.family == Family::kV4 ? 4u : 16u);
    EXPECT_EQ(ip->bits(), c.family == Family::kV4 ? 32 : 128);
    // Round trip through the canonical form.
    EXPECT_EQ(IpAddr::parse(ip->str()), ip);
  }
}

TEST(IpAddrTest, Ipv4BytesInNetworkOrderRestZero) {
  const auto ip = IpAddr::parse("10.1.2.3");
  ASSERT_TRUE(ip);
  const std::array<uint8_t, 16> want{10, 1, 2, 3};
  EXPECT_EQ(ip->bytes, want);
}

TEST(IpAddrTest, FamiliesAreDistinctValues) {
  // ::ffff:10.0.0.1 is an IPv6 address, never equal to 10.0.0.1.
  EXPECT_NE(IpAddr::parse("::ffff:10.0.0.1"), IpAddr::parse("10.0.0.1"));
  EXPECT_NE(IpAddr::parse("::a00:1"), IpAddr::parse("10.0.0.1"));
}

struct CidrCase {
  const char* text;
  bool ok;
  const char* canonical = "";
  bool had_host_bits = false;
};

TEST(CidrTest, ParseTable) {
  const CidrCase cases[] = {
      {"10.0.0.0/8", true, "10.0.0.0/8", false},
      {"10.0.0.1/32", true, "10.0.0.1/32", false},
      {"0.0.0.0/0", true, "0.0.0.0/0", false},
      // The upstream e2e suite writes "10.244.1.10/4"; the API server accepts it.
      {"10.244.1.10/4", true, "0.0.0.0/4", true},
      {"1.2.3.4/0", true, "0.0.0.0/0", true},
      {"10.0.0.5/31", true, "10.0.0.4/31", true},
      {"192.168.1.0/23", true, "192.168.0.0/23", true},
      {"2001:db8::/32", true, "2001:db8::/32", false},
      {"2001:db8::1/64", true, "2001:db8::/64", true},
      {"fd00::1:1/112", true, "fd00::1:0/112", true},
      {"::/0", true, "::/0", false},
      {"::1/128", true, "::1/128", false},
      {"10.0.0.0/33", false},
      {"10.0.0.0/1000", false},
      {"10.0.0.0/", false},
      {"10.0.0.0", false},
      {"/8", false},
      {"10.0.0.0/-1", false},
      {"10.0.0.0/+8", false},
      {"10.0.0.0/08", false},
      {"010.0.0.0/8", false},
      {"10.0.0.0/8/8", false},
      {"10.0.0.0/8 ", false},
      {"2001:db8::/129", false},
      {"2001:db8::g/64", false},
      {"", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto parsed = Cidr::parse(c.text);
    ASSERT_EQ(parsed.has_value(), c.ok);
    if (!c.ok) continue;
    EXPECT_EQ(parsed->cidr.str(), c.canonical);
    EXPECT_EQ(parsed->had_host_bits, c.had_host_bits);
    EXPECT_EQ(parsed->cidr.first(), parsed->cidr.addr);
  }
}

struct ContainsIpCase {
  const char* cidr;
  const char* ip;
  bool contains;
};

TEST(CidrTest, ContainsIpTable) {
  const ContainsIpCase cases[] = {
      {"10.0.0.0/8", "10.0.0.0", true},
      {"10.0.0.0/8", "10.255.255.255", true},
      {"10.0.0.0/8", "11.0.0.0", false},
      {"10.0.0.0/8", "9.255.255.255", false},
      {"10.0.0.1/32", "10.0.0.1", true},
      {"10.0.0.1/32", "10.0.0.2", false},
      {"192.168.1.0/23", "192.168.0.1", true},
      {"192.168.1.0/23", "192.168.1.255", true},
      {"192.168.1.0/23", "192.168.2.0", false},
      {"10.244.1.10/4", "15.1.1.1", true},
      {"10.244.1.10/4", "16.0.0.0", false},
      {"0.0.0.0/0", "1.2.3.4", true},
      {"2001:db8::/32", "2001:db8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::", false},
      {"fd00::1:0/112", "fd00::1:ffff", true},
      {"fd00::1:0/112", "fd00::2:0", false},
      {"::/0", "::", true},
      // Cross-family: an IPv4 prefix never contains an IPv6 address, and vice versa, not
      // even /0 or the IPv4-mapped form.
      {"0.0.0.0/0", "::1", false},
      {"0.0.0.0/0", "::", false},
      {"::/0", "10.0.0.1", false},
      {"::/0", "0.0.0.0", false},
      {"10.0.0.0/8", "::ffff:10.0.0.1", false},
      {"::ffff:0:0/96", "10.0.0.1", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.cidr) + " contains " + c.ip);
    const auto cidr = Cidr::parse(c.cidr);
    const auto ip = IpAddr::parse(c.ip);
    ASSERT_TRUE(cidr && ip);
    EXPECT_EQ(cidr->cidr.contains(*ip), c.contains);
  }
}

struct ContainsCidrCase {
  const char* outer;
  const char* inner;
  bool contains;
};

TEST(CidrTest, ContainsCidrTable) {
  const ContainsCidrCase cases[] = {
      {"10.0.0.0/8", "10.1.0.0/16", true},
      {"10.0.0.0/8", "10.0.0.0/8", true},
      {"10.0.0.0/8", "10.255.255.255/32", true},
      {"10.0.0.0/8", "10.0.0.0/7", false},
      {"10.0.0.0/8", "0.0.0.0/0", false},
      {"10.0.0.0/8", "11.0.0.0/16", false},
      {"0.0.0.0/0", "10.0.0.0/8", true},
      {"2001:db8::/32", "2001:db8:1::/48", true},
      {"2001:db8::/32", "2001:db8::/31", false},
      {"0.0.0.0/0", "::/0", false},
      {"::/0", "0.0.0.0/0", false},
      {"::/0", "10.0.0.0/8", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.outer) + " contains " + c.inner);
    const auto outer = Cidr::parse(c.outer);
    const auto inner = Cidr::parse(c.inner);
    ASSERT_TRUE(outer && inner);
    EXPECT_EQ(outer->cidr.contains(inner->cidr), c.contains);
  }
}

TEST(CidrTest, LastTable) {
  const std::pair<const char*, const char*> cases[] = {
      {"10.0.0.0/8", "10.255.255.255"},
      {"10.0.0.1/32", "10.0.0.1"},
      {"0.0.0.0/0", "255.255.255.255"},
      {"192.168.1.0/23", "192.168.1.255"},
      {"10.244.1.10/4", "15.255.255.255"},
      {"2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"fd00::/127", "fd00::1"},
      {"::1/128", "::1"},
  };
  for (const auto& [text, last] : cases) {
    SCOPED_TRACE(text);
    const auto c = Cidr::parse(text);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->cidr.last().str(), last);
    EXPECT_TRUE(c->cidr.contains(c->cidr.last()));
    EXPECT_EQ(c->cidr.last().family, c->cidr.addr.family);
  }
}

TEST(CidrTest, HostPrefix) {
  const auto v4 = IpAddr::parse("10.0.0.7");
  const auto v6 = IpAddr::parse("fd00::7");
  ASSERT_TRUE(v4 && v6);
  EXPECT_EQ(Cidr::host(*v4).str(), "10.0.0.7/32");
  EXPECT_EQ(Cidr::host(*v6).str(), "fd00::7/128");
  EXPECT_TRUE(Cidr::host(*v4).contains(*v4));
  EXPECT_FALSE(Cidr::host(*v4).contains(*IpAddr::parse("10.0.0.8")));
  EXPECT_EQ(Cidr::host(*v4).last(), *v4);
}

}  // namespace
}  // namespace common
