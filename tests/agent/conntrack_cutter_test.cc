// ConntrackCutter on a fake conntrack table: what the Enforcer notes decides what a cut
// looks at. In particular, a change that can only allow more (an incremental patch that added
// addresses to peer sets and removed none) revokes nothing, yet releases a flow in quarantine
// that it allows again: that flow's client keeps its entry alive, so waiting for it to time
// out would block an allowed flow for ever.
#include "agent/conntrack_cutter.h"

#include <gtest/gtest.h>

#include "conntrack/fake_table.h"
#include "revoke_cases.h"
#include "test_support.h"

namespace {

using agent::ConnectionCutter;
using agent::ConntrackCutter;
using conntrack::Entry;
using conntrack::FakeTable;
using conntrack_test::flow;

constexpr std::uint32_t kBit = compiler::kDefaultQuarantineMark;

// kPolicies: api (10.244.1.20, n1) admits app=web on UDP 53; client (10.244.2.40, n2) is not
// web, so client -> api:53 is denied; relabelled app=web, it joins the peer set and is allowed.
const std::string kClientAsWeb =
    conntrack_test::pod("shop", "client", "n2", "10.244.2.40", "app: web");
const Entry kClientToApi = flow(conntrack::kProtoUdp, "10.244.2.40", 50001, "10.244.1.20", 53);

const nft::Program& denying() {
  static const nft::Program p =
      conntrack_test::compile(conntrack_test::kPods + conntrack_test::kPolicies, "n1");
  return p;
}
const nft::Program& allowing() {
  static const nft::Program p = conntrack_test::compile(
      conntrack_test::kPods + kClientAsWeb + conntrack_test::kPolicies, "n1");
  return p;
}

struct Fixture {
  FakeTable* table;  // owned by the cutter
  std::unique_ptr<ConntrackCutter> cutter;

  explicit Fixture(std::uint32_t bit) {
    auto t = std::make_unique<FakeTable>();
    table = t.get();
    EXPECT_TRUE(table->insert({kClientToApi}).is_ok());
    cutter = std::make_unique<ConntrackCutter>(std::move(t), bit);
  }
  std::uint32_t mark() const {
    for (const Entry& e : table->all()) {
      if (e.same_connection(kClientToApi)) return e.mark;
    }
    ADD_FAILURE() << "the entry is gone";
    return 0;
  }
  // The agent's first sync (previous program unknown), then an add-only patch.
  void deny_everything_first() {
    cutter->note({.after = &denying()});
    ASSERT_TRUE(cutter->pending());
    const auto r = cutter->cut(denying());
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.deleted, 1u);  // quarantined
  }
  ConnectionCutter::Change add_only() const {
    return {.after = &allowing(), .addresses = std::set<common::IpAddr>{}};
  }
};

TEST(ConntrackCutter, AnAddOnlyPatchReleasesTheFlowsItAllowsAgain) {
  Fixture f(kBit);
  f.deny_everything_first();
  EXPECT_EQ(f.mark(), kBit);

  f.table->reset_stats();
  f.cutter->note(f.add_only());
  ASSERT_TRUE(f.cutter->pending());
  const auto r = f.cutter->cut(allowing());
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(f.mark(), 0u);
  EXPECT_EQ(r.examined, 1u);
  EXPECT_EQ(f.table->stats().dumps, 1u);  // the dump by mark, nothing else
  EXPECT_EQ(f.table->stats().marked, 1u);
  EXPECT_EQ(f.table->all().size(), 1u);  // released, not deleted
  EXPECT_FALSE(f.cutter->pending());
}

// A restarted agent whose first sync changes nothing (ops=0: nothing noted) still releases
// what an earlier run left in quarantine and the program allows now.
TEST(ConntrackCutter, AtStartTheQuarantineIsReleasedEvenIfNothingChanges) {
  auto t = std::make_unique<FakeTable>();
  Entry marked = kClientToApi;
  marked.mark = kBit;
  ASSERT_TRUE(t->insert({marked}).is_ok());
  FakeTable* table = t.get();
  ConntrackCutter cutter(std::move(t), kBit);
  ASSERT_TRUE(cutter.pending());
  ASSERT_TRUE(cutter.cut(allowing()).error.empty());
  ASSERT_EQ(table->all().size(), 1u);
  EXPECT_EQ(table->all().front().mark, 0u);
  EXPECT_FALSE(cutter.pending());
}

// Once a cut has seen the quarantine empty, add-only patches cost nothing again.
TEST(ConntrackCutter, NothingInQuarantineNoRecheck) {
  Fixture f(kBit);
  f.cutter->note({.after = &allowing()});
  ASSERT_TRUE(f.cutter->cut(allowing()).error.empty());
  EXPECT_EQ(f.mark(), 0u);  // allowed: left alone

  f.table->reset_stats();
  f.cutter->note(f.add_only());
  EXPECT_FALSE(f.cutter->pending());
  EXPECT_EQ(f.table->stats().dumps, 0u);
}

// With the quarantine off, denied flows are deleted and add-only patches never cut.
TEST(ConntrackCutter, QuarantineOffDeletesAndNeverRechecks) {
  Fixture f(0);
  f.cutter->note({.after = &denying()});
  ASSERT_TRUE(f.cutter->cut(denying()).error.empty());
  EXPECT_TRUE(f.table->all().empty());
  f.cutter->note(f.add_only());
  EXPECT_FALSE(f.cutter->pending());
}

// A patch that removed addresses cuts their flows (quarantined: UDP).
TEST(ConntrackCutter, ARemovingPatchRevokesItsAddresses) {
  Fixture f(kBit);
  f.cutter->note({.after = &allowing()});
  ASSERT_TRUE(f.cutter->cut(allowing()).error.empty());
  f.cutter->note({.after = &denying(),
                  .addresses = std::set<common::IpAddr>{conntrack_test::ip("10.244.2.40")}});
  ASSERT_TRUE(f.cutter->pending());
  ASSERT_TRUE(f.cutter->cut(denying()).error.empty());
  EXPECT_EQ(f.mark(), kBit);
}

// A cut that fails (a dump lost to ENOBUFS) keeps its work pending, with what is noted
// meanwhile: the Enforcer retries it (tests/agent/enforcer_cut_test.cc), nothing is dropped.
TEST(ConntrackCutter, AFailedRevocationStaysPending) {
  Fixture f(kBit);
  f.table->fail_dumps(2);
  f.cutter->note({.after = &denying()});
  for (int i = 0; i < 2; ++i) {
    const auto r = f.cutter->cut(denying());
    EXPECT_NE(r.error.find("revoking: "), std::string::npos) << r.error;
    EXPECT_EQ(f.mark(), 0u);
    ASSERT_TRUE(f.cutter->pending());
  }
  const auto r = f.cutter->cut(denying());
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(f.mark(), kBit);
  EXPECT_FALSE(f.cutter->pending());
}

// The release of a quarantined flow an add-only patch allows again is retried too.
TEST(ConntrackCutter, AFailedReleaseStaysPending) {
  Fixture f(kBit);
  f.deny_everything_first();
  f.table->fail_dumps(1);
  f.cutter->note(f.add_only());
  auto r = f.cutter->cut(allowing());
  EXPECT_NE(r.error.find("releasing: "), std::string::npos) << r.error;
  EXPECT_EQ(f.mark(), kBit);
  ASSERT_TRUE(f.cutter->pending());
  r = f.cutter->cut(allowing());
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(f.mark(), 0u);
  EXPECT_FALSE(f.cutter->pending());
}

// The flows of an IP that left its pod are deleted even if the first attempt fails: a new pod
// given that IP must not inherit them. What is noted between attempts joins the retry.
TEST(ConntrackCutter, ReleasedAddressesAndLaterNotesSurviveFailures) {
  Fixture f(0);
  const Entry other = flow(conntrack::kProtoTcp, "10.244.2.41", 40000, "10.244.1.20", 80);
  ASSERT_TRUE(f.table->insert(other).is_ok());
  f.table->fail_dumps(1);
  f.cutter->note({.after = &allowing(),
                  .addresses = std::set<common::IpAddr>{},
                  .released = {conntrack_test::ip("10.244.2.40")}});
  auto r = f.cutter->cut(allowing());
  EXPECT_NE(r.error.find("deleting flows of released IPs: "), std::string::npos) << r.error;
  EXPECT_EQ(f.table->all().size(), 2u);
  f.table->fail_dumps(1);
  f.cutter->note({.after = &allowing(),
                  .addresses = std::set<common::IpAddr>{},
                  .released = {conntrack_test::ip("10.244.2.41")}});
  EXPECT_FALSE(f.cutter->cut(allowing()).error.empty());
  ASSERT_TRUE(f.cutter->pending());
  r = f.cutter->cut(allowing());
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(f.table->all().empty());
  EXPECT_FALSE(f.cutter->pending());
}

}  // namespace
