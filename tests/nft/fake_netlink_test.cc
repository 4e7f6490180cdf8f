// FakeNetlink: kernel-like refusals with the kernel's errno, atomic rollback,
// operation counting.
#include "nft/fake_netlink.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "nft/diff.h"
#include "test_programs.h"

namespace nft {
namespace {

using testing::rule;
using testing::small_program;
using testing::v4;

const SetType kV4 = testing::addr_type(KeyType::ipv4_addr);
const SetType kV4Interval = testing::addr_type(KeyType::ipv4_addr, true);
const SetType kMap = testing::map_type(KeyType::ipv4_addr);

Transaction tx(std::vector<Op> ops) {
  return Transaction{.ops = std::move(ops)};
}

struct RefusalCase {
  std::string name;
  std::vector<Op> ops;
  Errc code;
  std::size_t op_index;
};

class FakeRefusalTest : public ::testing::TestWithParam<RefusalCase> {};

// Every case runs against a fake holding small_program(); the state must not change.
TEST_P(FakeRefusalTest, RefusedAndRolledBack) {
  const RefusalCase& c = GetParam();
  FakeNetlink fake(small_program());
  Status s = fake.apply(tx(c.ops));
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.error().code, c.code) << s.error().to_string();
  EXPECT_EQ(s.error().op_index, c.op_index) << s.error().to_string();
  EXPECT_EQ(fake.dump("nftpolicy").value(), small_program());
  EXPECT_EQ(fake.stats().rejected, 1u);
  EXPECT_EQ(fake.stats().transactions, 0u);
  EXPECT_EQ(fake.generation(), 0u);
}

// A first op that succeeds, so rollback is really exercised.
const Op kHarmless = op::AddElements{"pods-v4", kV4, {v4("10.244.9.9")}};

INSTANTIATE_TEST_SUITE_P(
    Cases, FakeRefusalTest,
    ::testing::Values(
        RefusalCase{"set_exists", {kHarmless, op::AddSet{"pods-v4", kV4}}, Errc::exists, 1},
        RefusalCase{"chain_exists", {kHarmless, op::AddChain{"pod-a"}}, Errc::exists, 1},
        RefusalCase{"element_exists",
                    {kHarmless, op::AddElements{"pods-v4", kV4, {v4("10.244.1.5")}}},
                    Errc::exists,
                    1},
        RefusalCase{"element_twice_in_one_op",
                    {op::AddElements{"pods-v4", kV4, {v4("10.1.1.1"), v4("10.1.1.1")}}},
                    Errc::exists,
                    0},
        RefusalCase{"map_key_exists_other_verdict",
                    {op::AddElements{"ingress-v4", kMap, {v4("10.244.1.5").with(Verdict::drop())}}},
                    Errc::exists,
                    0},
        RefusalCase{
            "interval_overlap",
            {kHarmless, op::AddElements{"peers-v4", kV4Interval, {testing::cidr("10.9.0.0/16")}}},
            Errc::overlap,
            1},
        RefusalCase{
            "delete_missing_set", {kHarmless, op::DeleteSet{"nope", kV4}}, Errc::not_found, 1},
        RefusalCase{
            "delete_missing_chain", {kHarmless, op::DeleteChain{"nope"}}, Errc::not_found, 1},
        RefusalCase{"flush_missing_chain", {op::FlushChain{"nope"}}, Errc::not_found, 0},
        RefusalCase{"delete_missing_element",
                    {kHarmless, op::DeleteElements{"pods-v4", kV4, {v4("10.99.0.1")}}},
                    Errc::not_found,
                    1},
        RefusalCase{"delete_interval_by_other_bounds",
                    {op::DeleteElements{"peers-v4", kV4Interval, {testing::cidr("10.0.0.0/9")}}},
                    Errc::not_found,
                    0},
        RefusalCase{"elements_of_missing_set",
                    {op::AddElements{"nope", kV4, {v4("10.0.0.1")}}},
                    Errc::not_found,
                    0},
        RefusalCase{"rule_in_missing_chain",
                    {op::AddRule{"nope", rule({}, Verdict::accept())}},
                    Errc::not_found,
                    0},
        RefusalCase{"rule_jumps_to_missing_chain",
                    {kHarmless, op::AddRule{"pod-a", rule({}, Verdict::jump("nope"))}},
                    Errc::not_found,
                    1},
        RefusalCase{"rule_uses_missing_set",
                    {op::AddRule{"pod-a", rule({AddrSetMatch{.set = "nope"}}, Verdict::accept())}},
                    Errc::not_found,
                    0},
        RefusalCase{
            "vmap_element_jumps_to_missing_chain",
            {kHarmless,
             op::AddElements{"ingress-v4", kMap, {v4("10.244.1.9").with(Verdict::jump("nope"))}}},
            Errc::not_found,
            1},
        RefusalCase{"jump_to_base_chain",
                    {op::AddRule{"pod-a", rule({}, Verdict::jump("forward"))}},
                    Errc::unsupported,
                    0},
        RefusalCase{"delete_chain_jumped_to_by_rule",
                    {kHarmless, op::DeleteElements{"ingress-v4", kMap, {v4("10.244.1.6")}},
                     op::DeleteChain{"pod-b"}},
                    Errc::busy,
                    2},
        RefusalCase{"delete_chain_in_map",
                    {op::FlushChain{"output"}, op::DeleteChain{"pod-b"}},
                    Errc::busy,
                    1},
        RefusalCase{"delete_set_in_use", {kHarmless, op::DeleteSet{"pods-v4", kV4}}, Errc::busy, 1},
        RefusalCase{"delete_map_in_use", {op::DeleteSet{"ingress-v4", kMap}}, Errc::busy, 0},
        RefusalCase{
            "wrong_key_size",
            {kHarmless, op::AddElements{"pods-v4", kV4, {Element::ipv6("fd00::1").value()}}},
            Errc::invalid,
            1},
        RefusalCase{"interval_in_plain_set",
                    {op::AddElements{"pods-v4", kV4, {testing::cidr("10.1.0.0/16")}}},
                    Errc::invalid,
                    0},
        RefusalCase{"bad_name", {op::AddChain{"fwd"}}, Errc::invalid, 0},
        RefusalCase{"empty_set_type", {op::AddSet{"s-x", SetType{}}}, Errc::invalid, 0},
        RefusalCase{"loop",
                    {op::AddRule{"pod-b", rule({}, Verdict::jump("pod-a"))},
                     op::AddRule{"pod-a", rule({}, Verdict::goto_("pod-b"))}},
                    Errc::loop,
                    1},
        RefusalCase{"loop_through_map",
                    {op::AddRule{"pod-a", rule({}, VmapDispatch{.map = "ingress-v4"})}},
                    Errc::loop,
                    0},
        RefusalCase{"fails_late",
                    {kHarmless, op::FlushChain{"pod-a"}, op::DeleteChain{"input"},
                     op::AddChain{"new-chain"}, op::AddChain{"new-chain"}},
                    Errc::exists,
                    4}),
    [](const auto& info) { return info.param.name; });

TEST(FakeNetlinkTest, MissingTable) {
  FakeNetlink fake;
  EXPECT_FALSE(fake.has_table("nftpolicy"));
  EXPECT_EQ(fake.dump("nftpolicy").value(), Program{});
  Status s = fake.apply(tx({op::AddChain{"c-1"}}));
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.error().code, Errc::not_found);
  EXPECT_EQ(to_errno(s.error().code), ENOENT);
  s = fake.apply(tx({op::DeleteTable{}}));
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.error().code, Errc::not_found);
  EXPECT_FALSE(fake.has_table("nftpolicy"));
}

TEST(FakeNetlinkTest, AddTableIsIdempotentAndDeleteTableTakesEverything) {
  FakeNetlink fake;
  ASSERT_TRUE(fake.apply(tx({op::AddTable{}, op::AddTable{}})).is_ok());
  EXPECT_TRUE(fake.has_table("nftpolicy"));
  ASSERT_TRUE(fake.apply(diff(Program{}, small_program())).is_ok());
  EXPECT_EQ(fake.dump("nftpolicy").value(), small_program());
  ASSERT_TRUE(fake.apply(tx({op::DeleteTable{}})).is_ok());
  EXPECT_FALSE(fake.has_table("nftpolicy"));
  EXPECT_EQ(fake.dump("nftpolicy").value(), Program{});
}

TEST(FakeNetlinkTest, DeleteChainTakesItsRulesAndTheirReferences) {
  FakeNetlink fake(small_program());
  // pod-a holds the only references to peers-v4 and peers-v6 and ports-web.
  Status s = fake.apply(
      tx({op::DeleteElements{"ingress-v4", kMap, {v4("10.244.1.5")}},
          op::DeleteElements{
              "ingress-v6", testing::map_type(KeyType::ipv6_addr), {testing::v6("fd00::5")}},
          op::DeleteChain{"pod-a"}, op::DeleteSet{"peers-v4", kV4Interval}}));
  ASSERT_TRUE(s.is_ok()) << s.error().to_string();
  Program p = fake.dump("nftpolicy").value();
  EXPECT_FALSE(p.find_chain("pod-a"));
  EXPECT_FALSE(p.find_set("peers-v4"));
}

TEST(FakeNetlinkTest, TablesAreSeparate) {
  FakeNetlink fake(small_program());
  Program other{.table = "other"};
  other.put(Chain{.name = "c-1"});
  ASSERT_TRUE(fake.apply(diff(Program{.table = "other"}, other)).is_ok());
  EXPECT_EQ(fake.dump("other").value(), other);
  EXPECT_EQ(fake.dump("nftpolicy").value(), small_program());
}

TEST(FakeNetlinkTest, CountsOperations) {
  FakeNetlink fake(small_program());
  Program desired = small_program();
  desired.sets.at("pods-v4").elements.insert(v4("10.244.1.7"));
  desired.sets.at("ingress-v4").elements.insert(v4("10.244.1.7").with(Verdict::jump("pod-a")));
  ASSERT_TRUE(fake.apply(diff(small_program(), desired)).is_ok());
  const FakeNetlinkStats& stats = fake.stats();
  EXPECT_EQ(stats.transactions, 1u);
  EXPECT_EQ(stats.ops, 2u);
  EXPECT_EQ(stats.count(OpKind::add_elements), 2u);
  EXPECT_EQ(stats.elements_added, 2u);
  EXPECT_EQ(stats.elements_deleted, 0u);
  EXPECT_EQ(stats.messages(), 4u);
  EXPECT_EQ(fake.generation(), 1u);
  // Planning again against what the fake holds: nothing to do.
  EXPECT_TRUE(diff(fake.dump("nftpolicy").value(), desired).empty());
  fake.reset_stats();
  EXPECT_EQ(fake.stats().ops, 0u);
}

TEST(FakeNetlinkTest, InjectedFailure) {
  FakeNetlink fake(small_program());
  fake.fail_next_apply(make_error(Errc::io, "ENOBUFS"));
  Transaction t = tx({kHarmless});
  Status s = fake.apply(t);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.error().code, Errc::io);
  EXPECT_EQ(fake.dump("nftpolicy").value(), small_program());
  EXPECT_TRUE(fake.apply(t).is_ok());
}

TEST(FakeNetlinkTest, EmptyTransactionIsFine) {
  FakeNetlink fake(small_program());
  EXPECT_TRUE(fake.apply(Transaction{}).is_ok());
  EXPECT_EQ(fake.dump("nftpolicy").value(), small_program());
}

}  // namespace
}  // namespace nft
