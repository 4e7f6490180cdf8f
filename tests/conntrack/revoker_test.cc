// The revoker on fake tables: it cuts exactly the entries the new program denies — judged
// as the first packet of their flow, after DNAT, on the hook the kernel would use — and
// never an allowed one, whatever the dumps it chose. Cut means deleted for TCP, quarantined
// (marked) for the others: quarantine_test.cc has the details.
#include "conntrack/revoker.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "conntrack/fake_table.h"
#include "revoke_cases.h"
#include "test_support.h"

namespace {

using conntrack::Entry;
using conntrack::FakeTable;
using conntrack::NodeAddresses;
using conntrack::Scope;
using conntrack_test::Case;
using conntrack_test::cases;
using conntrack_test::denied_cases;
using conntrack_test::dnat;
using conntrack_test::flow;
using conntrack_test::icmp;
using conntrack_test::ip;
using conntrack_test::kNode;
using conntrack_test::kPods;
using conntrack_test::kPolicies;
using conntrack_test::pod;
using conntrack_test::policy;

constexpr std::uint8_t kTcp = conntrack::kProtoTcp;

FakeTable table_of_cases() {
  FakeTable t;
  for (const Case& c : cases()) EXPECT_TRUE(t.insert(c.entry).is_ok()) << c.what;
  t.reset_stats();
  return t;
}

constexpr std::uint32_t kBit = compiler::kDefaultQuarantineMark;

// Denied TCP entries are gone, other denied entries carry the quarantine bit, allowed ones
// are untouched.
void expect_only_allowed_left(const FakeTable& t) {
  for (const Case& c : cases()) {
    const auto it = std::find_if(t.all().begin(), t.all().end(),
                                 [&](const Entry& e) { return e.same_connection(c.entry); });
    const bool deleted = c.denied && c.entry.l4proto == kTcp;
    EXPECT_EQ(it == t.all().end(), deleted) << c.what;
    if (it != t.all().end()) {
      EXPECT_EQ(it->mark, c.denied ? kBit : 0u) << c.what;
    }
  }
}

std::size_t denied_tcp() {
  const auto all = cases();
  return static_cast<std::size_t>(std::count_if(
      all.begin(), all.end(), [](const Case& c) { return c.denied && c.entry.l4proto == kTcp; }));
}

TEST(Revoker, CutsExactlyWhatTheNewProgramDenies) {
  const nft::Program after = conntrack_test::compile(kPods + kPolicies, "n1");
  FakeTable t = table_of_cases();
  auto report = conntrack::revoke(after, t, Scope::all(), kNode);
  ASSERT_TRUE(report.is_ok()) << report.error().to_string();
  EXPECT_EQ(report.value().examined, cases().size());
  EXPECT_EQ(report.value().denied, denied_cases());
  EXPECT_EQ(report.value().deleted, denied_tcp());
  EXPECT_EQ(report.value().quarantined, denied_cases() - denied_tcp());  // UDP, SCTP, ICMP
  EXPECT_EQ(report.value().dumps, 1u);
  expect_only_allowed_left(t);
  // Revoking again finds nothing more to do; the quarantined entries stay so.
  const auto again = conntrack::revoke(after, t, Scope::all(), kNode).value();
  EXPECT_EQ(again.deleted + again.quarantined + again.released, 0u);
  EXPECT_EQ(again.in_quarantine, denied_cases() - denied_tcp());
  expect_only_allowed_left(t);
}

TEST(Revoker, TheScopeOfTheChangeFindsTheSameEntriesWithFilteredDumps) {
  const nft::Program before = conntrack_test::compile(kPods, "n1");
  const nft::Program after = conntrack_test::compile(kPods + kPolicies, "n1");
  const Scope scope = conntrack::scope_of_change(before, after);
  // api becomes isolated for ingress (both addresses), job for egress.
  EXPECT_EQ(scope, (Scope{.sources = {ip("10.244.1.50")},
                          .destinations = {ip("10.244.1.20"), ip("fd00:1::20")}}));
  FakeTable t = table_of_cases();
  auto report = conntrack::revoke(after, t, scope, kNode).value();
  EXPECT_EQ(report.dumps, 4u);  // 3 addresses, and the entries in quarantine (by mark)
  EXPECT_FALSE(report.whole_families);
  EXPECT_LT(report.examined, cases().size());  // web <-> outside, client -> db: not looked at
  EXPECT_EQ(report.deleted + report.quarantined, denied_cases());
  expect_only_allowed_left(t);
  // Known to hold no entry in quarantine: no dump by mark.
  FakeTable u = table_of_cases();
  auto lean = conntrack::revoke(after, u, scope, kNode, {.find_quarantined = false}).value();
  EXPECT_EQ(lean.dumps, 3u);
  EXPECT_EQ(lean.deleted + lean.quarantined, denied_cases());
}

TEST(Revoker, AllowedEntriesAreNeverTouched) {
  // The program before the change allows everything: nothing is deleted, whatever the scope.
  const nft::Program before = conntrack_test::compile(kPods, "n1");
  FakeTable t = table_of_cases();
  auto report = conntrack::revoke(before, t, Scope::all(), kNode).value();
  EXPECT_EQ(report.examined, cases().size());
  EXPECT_EQ(report.deleted, 0u);
  EXPECT_EQ(t.all().size(), cases().size());
  EXPECT_EQ(t.stats().removed + t.stats().already_gone, 0u);
}

TEST(Revoker, EmptyScopeCostsNothing) {
  const nft::Program p = conntrack_test::compile(kPods + kPolicies, "n1");
  FakeTable t = table_of_cases();
  auto report = conntrack::revoke(p, t, Scope{}, kNode).value();
  EXPECT_EQ(report.dumps, 0u);
  EXPECT_EQ(t.stats().dumps, 0u);
  EXPECT_EQ(t.all().size(), cases().size());
}

TEST(Revoker, ASmallTableIsDumpedOnceWhole) {
  // Every dump walks the kernel's whole hash: with few entries, one walk beats two.
  const nft::Program after = conntrack_test::compile(kPods + kPolicies, "n1");
  const Scope scope{.sources = {ip("10.244.1.50")}, .destinations = {ip("10.244.1.20")}};
  FakeTable t = table_of_cases();
  t.report_size(true);
  EXPECT_EQ(conntrack::plan_dumps(scope, t), (std::vector<conntrack::DumpFilter>{{}}));
  const conntrack::RevokeOptions tiny{.whole_table_below = 1};
  EXPECT_EQ(conntrack::plan_dumps(scope, t, tiny).size(), 3u);  // 2 addresses, the quarantine
  const Scope one{.sources = {ip("10.244.1.50")}};
  // One filtered dump is one walk too; with the dump by mark, two are one too many.
  const conntrack::RevokeOptions lean{.find_quarantined = false};
  EXPECT_EQ(conntrack::plan_dumps(one, t, lean).size(), 1u);
  EXPECT_EQ(conntrack::plan_dumps(one, t, lean)[0].address.has_value(), true);
  EXPECT_EQ(conntrack::plan_dumps(one, t), (std::vector<conntrack::DumpFilter>{{}}));
  const auto report = conntrack::revoke(after, t, scope, kNode).value();
  EXPECT_EQ(report.deleted + report.quarantined, denied_cases());
}

TEST(Revoker, WideScopesAndUnfilterableFamiliesDumpWholeFamilies) {
  const nft::Program after = conntrack_test::compile(kPods + kPolicies, "n1");
  const Scope scope{.sources = {ip("10.244.1.50")},
                    .destinations = {ip("10.244.1.20"), ip("fd00:1::20")}};
  {
    FakeTable t = table_of_cases();
    t.set_filters_addresses(common::Family::kV6, false);  // like KernelTable
    const auto plan = conntrack::plan_dumps(scope, t);
    ASSERT_EQ(plan.size(), 4u);
    EXPECT_EQ(plan[0], (conntrack::DumpFilter{.family = common::Family::kV6}));
    EXPECT_EQ(plan[3], (conntrack::DumpFilter{.mark = kBit, .mark_mask = kBit}));
    const auto report = conntrack::revoke(after, t, scope, kNode).value();
    EXPECT_EQ(report.deleted + report.quarantined, denied_cases());
    expect_only_allowed_left(t);
  }
  {
    FakeTable t = table_of_cases();
    const conntrack::RevokeOptions narrow{.max_filtered_dumps = 2};
    EXPECT_EQ(conntrack::plan_dumps(scope, t, narrow), (std::vector<conntrack::DumpFilter>{{}}));
    auto report = conntrack::revoke(after, t, scope, kNode, narrow).value();
    EXPECT_TRUE(report.whole_families);
    EXPECT_EQ(report.examined, cases().size());
    EXPECT_EQ(report.deleted + report.quarantined, denied_cases());
    expect_only_allowed_left(t);
  }
}

TEST(Revoker, NodeTrafficIsJudgedOnTheOutputHookWhenNotTrusted) {
  const nft::Program judged =
      conntrack_test::compile(kPods + kPolicies, "n1", {.allow_node_traffic = false});
  const Entry probe = flow(kTcp, "192.168.0.1", 40017, "10.244.1.20", 8080);
  EXPECT_FALSE(conntrack::allowed(judged, probe, kNode));
  EXPECT_EQ(conntrack::first_packet(probe, nft::Hook::output, kNode).saddr_local, true);
  // Without the node's addresses the same entry would be judged as forwarded traffic.
  EXPECT_FALSE(conntrack::allowed(judged, probe, NodeAddresses{}));
  const Entry to_web = flow(kTcp, "192.168.0.1", 40019, "10.244.1.10", 80);
  EXPECT_TRUE(conntrack::allowed(judged, to_web, kNode));
}

TEST(Revoker, FirstPacketIsTheOriginalDirectionAfterDnat) {
  const Entry e = dnat(flow(kTcp, "10.244.2.40", 40003, "10.96.0.10", 80), "10.244.1.20", 8080);
  const compiler::Packet p = conntrack::first_packet(e, nft::Hook::forward, kNode);
  EXPECT_EQ(p.saddr, ip("10.244.2.40"));
  EXPECT_EQ(p.daddr, ip("10.244.1.20"));
  EXPECT_EQ(p.dport, 8080);
  EXPECT_EQ(p.ct_state, nft::kCtNew);
  EXPECT_EQ(p.tcp_flags, nft::kTcpSyn);
  EXPECT_FALSE(conntrack::first_packet(icmp("10.0.0.1", "10.0.0.2"), nft::Hook::forward, kNode)
                   .dport.has_value());
}

TEST(Revoker, RemoveAddressesDeletesEveryEntryOfThoseAddresses) {
  FakeTable t = table_of_cases();
  // api is deleted: its address may be reused at once by a new pod.
  const std::set<common::IpAddr> gone{ip("10.244.1.20"), ip("fd00:1::20")};
  auto report = conntrack::remove_addresses(t, gone).value();
  for (const Entry& e : t.all()) {
    for (const auto* a : {&e.orig.src, &e.orig.dst, &e.reply.src, &e.reply.dst}) {
      EXPECT_FALSE(gone.count(*a)) << conntrack::to_string(e);
    }
  }
  // 8080 x2 and 9999 direct, 2 DNATed, UDP x2, SCTP x2, IPv6 x2, SNAT from api, input from
  // api, output to api, ICMP, related.
  EXPECT_EQ(report.deleted, 16u);
  EXPECT_EQ(report.dumps, 8u);  // 4 fields x 2 addresses
  EXPECT_EQ(t.all().size(), cases().size() - 16);
  // The SNAT target (reply destination) counts too: the node's address is an address.
  FakeTable u = table_of_cases();
  EXPECT_EQ(conntrack::remove_addresses(u, {ip("192.168.0.1")}).value().deleted, 5u);
}

}  // namespace
