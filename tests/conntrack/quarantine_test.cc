// Quarantine instead of delete (RevokeOptions::quarantine_mark), on fake tables: a denied
// entry of any protocol but TCP gets the quarantine bit (the rest of its mark kept), a denied
// TCP entry is deleted as before, an entry in quarantine that a later program allows is
// released (wherever it is: one dump by mark finds them all), and with the quarantine off
// every denied entry is deleted. The kernel and real-traffic versions are in
// kernel_table_test.cc and quarantine_traffic_test.cc.
#include <gtest/gtest.h>

#include <algorithm>

#include "conntrack/fake_table.h"
#include "conntrack/revoker.h"
#include "revoke_cases.h"
#include "test_support.h"

namespace {

using conntrack::Entry;
using conntrack::FakeTable;
using conntrack::MarkChange;
using conntrack::RevokeOptions;
using conntrack::Scope;
using conntrack_test::flow;
using conntrack_test::ip;
using conntrack_test::kNode;
using conntrack_test::kPods;
using conntrack_test::kPolicies;

constexpr std::uint8_t kTcp = conntrack::kProtoTcp;
constexpr std::uint8_t kUdp = conntrack::kProtoUdp;
constexpr std::uint32_t kBit = compiler::kDefaultQuarantineMark;

// kPolicies: api (10.244.1.20) admits web (10.244.1.10) only; client (10.244.2.40) is denied.
const Entry kDeniedUdp = flow(kUdp, "10.244.2.40", 50001, "10.244.1.20", 53);
const Entry kDeniedTcp = flow(kTcp, "10.244.2.40", 40001, "10.244.1.20", 8080);
const Entry kAllowedUdp = flow(kUdp, "10.244.1.10", 50000, "10.244.1.20", 53);
Entry denied_udp_with_foreign_mark() {
  Entry e = flow(kUdp, "10.244.2.40", 50002, "10.244.1.20", 53);
  e.mark = 0x4001;  // someone else's bits
  return e;
}

const nft::Program& before() {
  static const nft::Program p = conntrack_test::compile(kPods, "n1");
  return p;
}
const nft::Program& after() {
  static const nft::Program p = conntrack_test::compile(kPods + kPolicies, "n1");
  return p;
}

FakeTable table() {
  FakeTable t;
  EXPECT_TRUE(
      t.insert({kDeniedUdp, kDeniedTcp, kAllowedUdp, denied_udp_with_foreign_mark()}).is_ok());
  t.reset_stats();
  return t;
}

const Entry* find(const FakeTable& t, const Entry& e) {
  const auto it = std::find_if(t.all().begin(), t.all().end(),
                               [&](const Entry& x) { return x.same_connection(e); });
  return it == t.all().end() ? nullptr : &*it;
}

TEST(Quarantine, FakeTableChangesMarksLikeTheKernel) {
  FakeTable t = table();
  const Entry foreign = denied_udp_with_foreign_mark();
  Entry stale = foreign;
  stale.id += 100;  // the kernel's update does not look at the id
  EXPECT_EQ(t.change_mark({stale}, MarkChange::set(kBit)).value(), 1u);
  EXPECT_EQ(find(t, foreign)->mark, 0x4001u | kBit);
  EXPECT_EQ(t.change_mark({foreign}, MarkChange::clear(kBit)).value(), 1u);
  EXPECT_EQ(find(t, foreign)->mark, 0x4001u);
  EXPECT_EQ(
      t.change_mark({flow(kUdp, "10.9.9.9", 1, "10.9.9.8", 2)}, MarkChange::set(kBit)).value(), 0u);
  EXPECT_EQ(t.stats().marked, 2u);
  EXPECT_EQ(t.stats().already_gone, 1u);
  EXPECT_EQ(t.entries({.mark = kBit, .mark_mask = kBit}).value().size(), 0u);
}

TEST(Quarantine, DeniedUdpIsMarkedDeniedTcpIsDeleted) {
  FakeTable t = table();
  const auto r = conntrack::revoke(after(), t, Scope::all(), kNode).value();
  EXPECT_EQ(r.denied, 3u);
  EXPECT_EQ(r.deleted, 1u);
  EXPECT_EQ(r.quarantined, 2u);
  EXPECT_EQ(r.in_quarantine, 2u);
  EXPECT_EQ(find(t, kDeniedTcp), nullptr);
  ASSERT_NE(find(t, kDeniedUdp), nullptr);
  EXPECT_EQ(find(t, kDeniedUdp)->mark, kBit);
  EXPECT_EQ(find(t, denied_udp_with_foreign_mark())->mark, 0x4001u | kBit);
  EXPECT_EQ(find(t, kAllowedUdp)->mark, 0u);
  EXPECT_EQ(t.stats().removed, 1u);
  EXPECT_EQ(t.stats().marked, 2u);
}

// A later change allows the flow again: the entry is found by its mark (the change's scope
// need not contain it) and released with its other bits intact; the entry in quarantine is
// judged by the policy, not by the quarantine rule that now drops its packets.
TEST(Quarantine, ALaterProgramThatAllowsTheFlowReleasesIt) {
  FakeTable t = table();
  ASSERT_TRUE(conntrack::revoke(after(), t, Scope::all(), kNode).is_ok());
  EXPECT_FALSE(conntrack::allowed(after(), *find(t, kDeniedUdp), kNode));
  EXPECT_TRUE(conntrack::allowed(before(), *find(t, kDeniedUdp), kNode));
  const Scope elsewhere{.sources = {ip("10.244.1.50")}};
  const auto r = conntrack::revoke(before(), t, elsewhere, kNode).value();
  EXPECT_EQ(r.released, 2u);
  EXPECT_EQ(r.in_quarantine, 0u);
  EXPECT_EQ(r.deleted + r.quarantined, 0u);
  EXPECT_EQ(find(t, kDeniedUdp)->mark, 0u);
  EXPECT_EQ(find(t, denied_udp_with_foreign_mark())->mark, 0x4001u);
  EXPECT_EQ(t.entries({.mark = kBit, .mark_mask = kBit}).value().size(), 0u);
}

// A change that only allows more (addresses joining peer sets) has nothing to revoke, but
// release_quarantined still frees the flows it allows again: one dump, by mark, and nothing
// else touched.
TEST(Quarantine, ReleaseQuarantinedLooksAtTheQuarantineOnly) {
  FakeTable t = table();
  ASSERT_TRUE(conntrack::revoke(after(), t, Scope::all(), kNode).is_ok());
  t.reset_stats();
  auto still = conntrack::release_quarantined(after(), t, kNode).value();
  EXPECT_EQ(still.examined, 2u);  // the two entries in quarantine, not the allowed UDP one
  EXPECT_EQ(still.in_quarantine, 2u);
  EXPECT_EQ(still.released + still.deleted + still.quarantined, 0u);
  EXPECT_EQ(t.stats().dumps, 1u);
  EXPECT_EQ(t.stats().marked, 0u);

  const auto r = conntrack::release_quarantined(before(), t, kNode).value();
  EXPECT_EQ(r.released, 2u);
  EXPECT_EQ(r.in_quarantine, 0u);
  EXPECT_EQ(find(t, kDeniedUdp)->mark, 0u);
  EXPECT_EQ(find(t, denied_udp_with_foreign_mark())->mark, 0x4001u);
  EXPECT_EQ(t.all().size(), 3u);  // the TCP one was deleted by the revocation; nothing else

  t.reset_stats();
  EXPECT_EQ(
      conntrack::release_quarantined(before(), t, kNode, {.quarantine_mark = 0}).value().examined,
      0u);
  EXPECT_EQ(t.stats().dumps, 0u);
}

TEST(Quarantine, StillDeniedEntriesStayInQuarantine) {
  FakeTable t = table();
  ASSERT_TRUE(conntrack::revoke(after(), t, Scope::all(), kNode).is_ok());
  t.reset_stats();
  const auto r = conntrack::revoke(after(), t, Scope{.sources = {ip("10.244.1.50")}}, kNode);
  EXPECT_EQ(r.value().in_quarantine, 2u);  // seen by the dump by mark
  EXPECT_EQ(r.value().quarantined + r.value().released, 0u);
  EXPECT_EQ(t.stats().marked, 0u);
}

TEST(Quarantine, NotLookedForNotReleased) {
  FakeTable t = table();
  ASSERT_TRUE(conntrack::revoke(after(), t, Scope::all(), kNode).is_ok());
  const Scope elsewhere{.sources = {ip("10.244.1.50")}};
  const auto r =
      conntrack::revoke(before(), t, elsewhere, kNode, {.find_quarantined = false}).value();
  EXPECT_EQ(r.released, 0u);
  EXPECT_EQ(find(t, kDeniedUdp)->mark, kBit);
}

TEST(Quarantine, OffDeletesEveryDeniedEntry) {
  FakeTable t = table();
  const RevokeOptions off{.quarantine_mark = 0};
  EXPECT_EQ(conntrack::plan_dumps(Scope{.sources = {ip("10.244.1.50")}}, t, off).size(), 1u);
  const auto r = conntrack::revoke(after(), t, Scope::all(), kNode, off).value();
  EXPECT_EQ(r.deleted, 3u);
  EXPECT_EQ(r.quarantined + r.in_quarantine, 0u);
  EXPECT_EQ(t.all().size(), 1u);
  EXPECT_EQ(t.stats().marked, 0u);
}

TEST(Quarantine, AnotherBit) {
  FakeTable t = table();
  const auto r =
      conntrack::revoke(after(), t, Scope::all(), kNode, {.quarantine_mark = 0x10}).value();
  EXPECT_EQ(r.quarantined, 2u);
  EXPECT_EQ(find(t, kDeniedUdp)->mark, 0x10u);
  EXPECT_EQ(find(t, denied_udp_with_foreign_mark())->mark, 0x4011u);
}

// remove_addresses (IPs that left their pods) deletes, quarantined entries included.
TEST(Quarantine, RemoveAddressesStillDeletes) {
  FakeTable t = table();
  ASSERT_TRUE(conntrack::revoke(after(), t, Scope::all(), kNode).is_ok());
  const auto r = conntrack::remove_addresses(t, {ip("10.244.2.40")}).value();
  EXPECT_EQ(r.deleted, 2u);
  EXPECT_EQ(r.quarantined, 0u);
  EXPECT_EQ(t.all().size(), 1u);
}

}  // namespace
