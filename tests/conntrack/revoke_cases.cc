#include "revoke_cases.h"

#include <algorithm>

#include "test_support.h"

namespace conntrack_test {
namespace {

using conntrack::Entry;

constexpr std::uint8_t kTcp = conntrack::kProtoTcp;
constexpr std::uint8_t kUdp = conntrack::kProtoUdp;
constexpr std::uint8_t kSctp = conntrack::kProtoSctp;

Entry snat(Entry e, const char* to) {
  e.reply.dst = ip(to);
  e.status |= conntrack::kStatusSrcNat;
  return e;
}

Entry expected(Entry e) {
  e.status |= conntrack::kStatusExpected;
  return e;
}

}  // namespace

conntrack::Entry icmp(const char* src, const char* dst) {
  conntrack::Entry e = conntrack::Entry::flow(conntrack::kProtoIcmp, {ip(src), ip(dst), 0, 0});
  e.icmp = {.type = 8, .code = 0, .id = 77};
  return e;
}

const std::string kPods = pod("shop", "web", "n1", "10.244.1.10,fd00:1::10", "app: web") +
                          pod("shop", "api", "n1", "10.244.1.20,fd00:1::20", "app: api") +
                          pod("shop", "job", "n1", "10.244.1.50", "app: job") +
                          pod("shop", "db", "n2", "10.244.2.30", "app: db") +
                          pod("shop", "client", "n2", "10.244.2.40", "app: client");
const std::string kPolicies =
    policy("shop", "api-in",
           "podSelector: {matchLabels: {app: api}}, ingress: [{from: [{podSelector: "
           "{matchLabels: {app: web}}}], ports: [{port: 8080}, {port: 53, protocol: UDP}, "
           "{port: 9000, protocol: SCTP}]}]") +
    policy("shop", "job-out",
           "podSelector: {matchLabels: {app: job}}, policyTypes: [Egress], egress: [{to: "
           "[{podSelector: {matchLabels: {app: db}}}], ports: [{port: 5432}]}]");

const conntrack::NodeAddresses kNode{{ip("192.168.0.1"), ip("fd00:ffff::1")}};

std::vector<Case> cases() {
  return {
      {"web -> api:8080", flow(kTcp, "10.244.1.10", 40000, "10.244.1.20", 8080), false},
      {"client -> api:8080", flow(kTcp, "10.244.2.40", 40001, "10.244.1.20", 8080), true},
      {"web -> api on a port not opened", flow(kTcp, "10.244.1.10", 40002, "10.244.1.20", 9999),
       true},
      {"client -> ClusterIP, DNAT to api:8080",
       dnat(flow(kTcp, "10.244.2.40", 40003, "10.96.0.10", 80), "10.244.1.20", 8080), true},
      {"web -> ClusterIP, DNAT to api:8080",
       dnat(flow(kTcp, "10.244.1.10", 40004, "10.96.0.10", 80), "10.244.1.20", 8080), false},
      {"client -> ClusterIP, DNAT to web (not isolated)",
       dnat(flow(kTcp, "10.244.2.40", 40005, "10.96.0.11", 80), "10.244.1.10", 80), false},
      {"UDP web -> api:53", flow(kUdp, "10.244.1.10", 50000, "10.244.1.20", 53), false},
      {"UDP client -> api:53", flow(kUdp, "10.244.2.40", 50001, "10.244.1.20", 53), true},
      {"SCTP web -> api:9000", flow(kSctp, "10.244.1.10", 40006, "10.244.1.20", 9000), false},
      {"SCTP client -> api:9000", flow(kSctp, "10.244.2.40", 40007, "10.244.1.20", 9000), true},
      {"IPv6 web -> api:8080", flow(kTcp, "fd00:1::10", 40008, "fd00:1::20", 8080), false},
      {"IPv6 outside -> api:8080", flow(kTcp, "2001:db8::7", 40009, "fd00:1::20", 8080), true},
      {"IPv6 outside -> web", flow(kTcp, "2001:db8::7", 40010, "fd00:1::10", 80), false},
      {"job -> db:5432", flow(kTcp, "10.244.1.50", 40011, "10.244.2.30", 5432), false},
      {"job -> db:80", flow(kTcp, "10.244.1.50", 40012, "10.244.2.30", 80), true},
      {"job -> outside, SNAT to the node",
       snat(flow(kTcp, "10.244.1.50", 40013, "192.0.2.7", 443), "192.168.0.1"), true},
      {"api -> outside, SNAT to the node",
       snat(flow(kTcp, "10.244.1.20", 40014, "192.0.2.7", 443), "192.168.0.1"), false},
      {"input: job -> the node", flow(kTcp, "10.244.1.50", 40015, "192.168.0.1", 10250), true},
      {"input: api -> the node", flow(kTcp, "10.244.1.20", 40016, "192.168.0.1", 10250), false},
      {"output: the node -> api (node traffic is trusted)",
       flow(kTcp, "192.168.0.1", 40017, "10.244.1.20", 8080), false},
      {"ICMP client -> api", icmp("10.244.2.40", "10.244.1.20"), true},
      {"related flow of client -> api",
       expected(flow(kTcp, "10.244.2.40", 20, "10.244.1.20", 20000)), false},
      {"client -> db, neither on this node", flow(kTcp, "10.244.2.40", 40018, "10.244.2.30", 80),
       false},
  };
}

std::size_t denied_cases() {
  const auto all = cases();
  return static_cast<std::size_t>(
      std::count_if(all.begin(), all.end(), [](const Case& c) { return c.denied; }));
}

}  // namespace conntrack_test
