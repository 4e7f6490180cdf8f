// When the Enforcer runs conntrack cuts: a failed cut is retried after a backoff that doubles
// per failure in a row (nothing noted is dropped meanwhile), and no cut is due while the
// kernel's program is unknown (a due time in the past would spin the agent's wait).
#include <gtest/gtest.h>

#include <thread>

#include "agent/enforcer.h"
#include "netns.h"
#include "policy/loader.h"
#include "revoke_cases.h"

namespace {

using namespace std::chrono_literals;
using agent::ConnectionCutter;
using agent::cut_delay;
using Clock = std::chrono::steady_clock;

// Fails its first `failures` cuts; pending from a note until a cut succeeds.
class FlakyCutter final : public ConnectionCutter {
 public:
  explicit FlakyCutter(int failures) : failures_(failures) {}
  void note(const Change&) override { pending_ = true; }
  bool pending() const override { return pending_; }
  Report cut(const nft::Program&) override {
    ++cuts;
    if (failures_ > 0) {
      --failures_;
      return {.error = "dump: No buffer space available (injected)"};
    }
    pending_ = false;
    return {};
  }
  int cuts = 0;

 private:
  int failures_;
  bool pending_ = false;
};

policy::Cluster cluster() {
  policy::Loader loader;
  loader.add_text(conntrack_test::kPods + conntrack_test::kPolicies, "test.yaml");
  auto r = std::move(loader).finish();
  EXPECT_TRUE(r.errors.empty());
  return std::move(r.cluster);
}

TEST(CutDelay, DoublesPerFailureInARowUpTo30s) {
  EXPECT_EQ(cut_delay(250ms, 0), 250ms);
  EXPECT_EQ(cut_delay(250ms, 1), 250ms);
  EXPECT_EQ(cut_delay(250ms, 2), 500ms);
  EXPECT_EQ(cut_delay(250ms, 4), 2000ms);
  EXPECT_EQ(cut_delay(250ms, 8), 30000ms);
  EXPECT_EQ(cut_delay(250ms, 1000), 30000ms);
  EXPECT_EQ(cut_delay(0ms, 0), 0ms);   // --conntrack-cut-interval 0: cut with every sync
  EXPECT_EQ(cut_delay(0ms, 1), 10ms);  // but never retry in a busy loop
  EXPECT_EQ(cut_delay(0ms, 3), 40ms);
}

// An Enforcer (cut interval 20 ms) on a table in a test network namespace.
class EnforcerCuts : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why_not;
    ns_ = nft::testing::Netns::create(why_not);
    if (!ns_) GTEST_SKIP() << why_not;
    auto netlink = ns_->open_netlink();
    ASSERT_TRUE(netlink) << netlink.error().to_string();
    netlink_ = std::move(netlink).value();
  }
  agent::Enforcer& enforcer(ConnectionCutter& cutter) {
    enforcer_ = std::make_unique<agent::Enforcer>(
        *netlink_, agent::EnforcerOptions{.node = "n1", .cut_interval = 20ms},
        std::make_shared<spdlog::logger>("test"), nullptr, &cutter);
    return *enforcer_;
  }

 private:
  std::unique_ptr<nft::testing::Netns> ns_;
  std::unique_ptr<nft::KernelNetlink> netlink_;
  std::unique_ptr<agent::Enforcer> enforcer_;
};

TEST_F(EnforcerCuts, AFailedCutIsRetriedAfterABackoff) {
  FlakyCutter cutter(2);
  agent::Enforcer& enforcer = this->enforcer(cutter);
  EXPECT_FALSE(enforcer.cut_due());

  // The first apply notes the change and cuts at once: it fails.
  const auto t0 = Clock::now();
  ASSERT_TRUE(enforcer.apply(enforcer.compile(cluster()), {}));
  EXPECT_EQ(cutter.cuts, 1);
  EXPECT_EQ(enforcer.cut_failures(), 1);
  auto due = enforcer.cut_due();
  ASSERT_TRUE(due);
  EXPECT_GE(*due, t0 + 20ms);
  EXPECT_LE(*due, Clock::now() + 20ms);

  // Retried when due: fails again, and the next wait is twice as long.
  std::this_thread::sleep_until(*due);
  const auto t1 = Clock::now();
  enforcer.cut_if_due();
  EXPECT_EQ(cutter.cuts, 2);
  EXPECT_EQ(enforcer.cut_failures(), 2);
  due = enforcer.cut_due();
  ASSERT_TRUE(due);
  EXPECT_GE(*due, t1 + 40ms);
  EXPECT_LE(*due, Clock::now() + 40ms);

  std::this_thread::sleep_until(*due);
  enforcer.cut_if_due();
  EXPECT_EQ(cutter.cuts, 3);
  EXPECT_EQ(enforcer.cut_failures(), 0);
  EXPECT_FALSE(enforcer.cut_due());  // nothing pending
}

TEST_F(EnforcerCuts, NoCutIsDueWhileTheKernelsProgramIsUnknown) {
  FlakyCutter cutter(1);
  agent::Enforcer& enforcer = this->enforcer(cutter);
  ASSERT_TRUE(enforcer.apply(enforcer.compile(cluster()), {}));
  ASSERT_TRUE(cutter.pending());
  ASSERT_TRUE(enforcer.cut_due());
  enforcer.invalidate();  // as after a failed apply: the next sync reads the table back
  EXPECT_FALSE(enforcer.cut_due());
  std::this_thread::sleep_for(25ms);
  enforcer.cut_if_due();
  EXPECT_EQ(cutter.cuts, 1);
  // The next sync (a read-back finding nothing to change) runs the retry, now due.
  ASSERT_TRUE(enforcer.apply(enforcer.compile(cluster()), {}));
  EXPECT_EQ(cutter.cuts, 2);
  EXPECT_FALSE(cutter.pending());
  EXPECT_FALSE(enforcer.cut_due());
}

}  // namespace
