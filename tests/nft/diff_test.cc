// diff(old, desired): minimal operations in an order the kernel accepts as one batch.
// Every case is also applied to a FakeNetlink holding `old`.
#include "nft/diff.h"

#include <gtest/gtest.h>

#include "nft/fake_netlink.h"
#include "nft/render.h"
#include "nft/validate.h"
#include "test_programs.h"

namespace nft {
namespace {

using testing::rule;
using testing::small_program;
using testing::v4;

std::vector<OpKind> kinds(const Transaction& tx) {
  std::vector<OpKind> out;
  for (const Op& op : tx.ops) {
    out.push_back(kind(op));
  }
  return out;
}

// Index of the first op rendering to `text` (tx.size() if none).
std::size_t index_of(const Transaction& tx, const std::string& text) {
  for (std::size_t i = 0; i < tx.size(); ++i) {
    if (render_op(tx.table, tx.ops[i]) == text) {
      return i;
    }
  }
  ADD_FAILURE() << "no operation \"" << text << "\" in\n" << render(tx);
  return tx.size();
}

// diff, check both programs, apply to a fake holding `old`, expect `desired` back.
Transaction checked_diff(const Program& old, const Program& desired) {
  EXPECT_TRUE(validate(old).is_ok()) << validate(old).error().to_string();
  EXPECT_TRUE(validate(desired).is_ok()) << validate(desired).error().to_string();
  Transaction tx = diff(old, desired);
  FakeNetlink fake(old);
  Status s = fake.apply(tx);
  EXPECT_TRUE(s.is_ok()) << s.error().to_string() << "\n" << render(tx);
  EXPECT_EQ(fake.dump(desired.table).value(), desired) << render(tx);
  EXPECT_TRUE(diff(desired, fake.dump(desired.table).value()).empty());
  return tx;
}

TEST(DiffTest, EqualProgramsGiveEmptyTransaction) {
  EXPECT_TRUE(diff(small_program(), small_program()).empty());
  EXPECT_TRUE(diff(Program{}, Program{}).empty());
}

TEST(DiffTest, FromEmptyCreatesTableFirst) {
  Transaction tx = checked_diff(Program{}, small_program());
  ASSERT_FALSE(tx.empty());
  EXPECT_EQ(kind(tx.ops[0]), OpKind::add_table);
  EXPECT_EQ(tx.count(OpKind::add_table), 1u);
  EXPECT_EQ(tx.count(OpKind::add_chain), 5u);
  EXPECT_EQ(tx.count(OpKind::add_set), 7u);
  EXPECT_EQ(tx.count(OpKind::add_elements), 7u);
  EXPECT_EQ(tx.count(OpKind::add_rule), 17u);
  EXPECT_EQ(tx.count(OpKind::delete_chain) + tx.count(OpKind::delete_set), 0u);
  // Creation order: chains, then sets, then elements, then rules.
  std::vector<OpKind> k = kinds(tx);
  EXPECT_TRUE(std::is_sorted(k.begin() + 1, k.end(), [](OpKind a, OpKind b) {
    auto rank = [](OpKind x) {
      return x == OpKind::add_chain      ? 0
             : x == OpKind::add_set      ? 1
             : x == OpKind::add_elements ? 2
                                         : 3;
    };
    return rank(a) < rank(b);
  }));
}

TEST(DiffTest, ToEmptyDeletesEverythingButTheTable) {
  Transaction tx = checked_diff(small_program(), Program{});
  EXPECT_EQ(tx.count(OpKind::delete_table), 0u);
  EXPECT_EQ(tx.count(OpKind::delete_chain), 5u);
  EXPECT_EQ(tx.count(OpKind::delete_set), 7u);
  EXPECT_EQ(tx.count(OpKind::add_rule), 0u);
}

TEST(DiffTest, AddingAPodSendsOnlyElements) {
  Program old = small_program();
  Program desired = old;
  desired.sets.at("pods-v4").elements.insert(v4("10.244.1.7"));
  desired.sets.at("ingress-v4").elements.insert(v4("10.244.1.7").with(Verdict::jump("pod-b")));
  Transaction tx = checked_diff(old, desired);
  EXPECT_TRUE(tx.only_elements());
  EXPECT_EQ(kinds(tx), (std::vector<OpKind>{OpKind::add_elements, OpKind::add_elements}));
  EXPECT_EQ(tx.elements_added(), 2u);
  EXPECT_EQ(tx.elements_deleted(), 0u);
}

TEST(DiffTest, RemovingAPodSendsOnlyElementDeletes) {
  Program old = small_program();
  Program desired = old;
  desired.sets.at("pods-v4").elements.erase(v4("10.244.1.5"));
  desired.sets.at("ingress-v4").elements.erase(v4("10.244.1.5"));
  Transaction tx = checked_diff(old, desired);
  EXPECT_EQ(kinds(tx), (std::vector<OpKind>{OpKind::delete_elements, OpKind::delete_elements}));
  EXPECT_EQ(tx.elements_deleted(), 2u);
}

TEST(DiffTest, ChangedVerdictIsDeleteThenAdd) {
  Program old = small_program();
  Program desired = old;
  auto& map = desired.sets.at("ingress-v4").elements;
  map.erase(v4("10.244.1.5"));
  map.insert(v4("10.244.1.5").with(Verdict::jump("pod-b")));
  Transaction tx = checked_diff(old, desired);
  EXPECT_EQ(render(tx),
            "delete element inet nftpolicy ingress-v4 { 10.244.1.5 }\n"
            "create element inet nftpolicy ingress-v4 { 10.244.1.5 : jump pod-b }\n");
}

TEST(DiffTest, ChangedIntervalIsDeleteThenAdd) {
  Program old = small_program();
  Program desired = old;
  auto& peers = desired.sets.at("peers-v4").elements;
  peers.erase(testing::cidr("10.0.0.0/8"));
  peers.insert(testing::cidr("10.0.0.0/9"));
  Transaction tx = checked_diff(old, desired);
  EXPECT_EQ(render(tx),
            "delete element inet nftpolicy peers-v4 { 10.0.0.0/8 }\n"
            "create element inet nftpolicy peers-v4 { 10.0.0.0/9 }\n");
}

TEST(DiffTest, ChangedChainIsFlushedAndRefilled) {
  Program old = small_program();
  Program desired = old;
  auto& rules = desired.chains.at("pod-b").rules;
  rules.insert(rules.begin(), rule({CtStateMatch{.states = kCtInvalid}}, Verdict::drop()));
  Transaction tx = checked_diff(old, desired);
  std::vector<OpKind> expected{OpKind::flush_chain};
  expected.insert(expected.end(), rules.size(), OpKind::add_rule);
  EXPECT_EQ(kinds(tx), expected);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    EXPECT_EQ(std::get<op::AddRule>(tx.ops[i + 1]).rule, rules[i]);
  }
}

TEST(DiffTest, RetypedSetIsRecreatedAndItsUsersRefilled) {
  Program old = small_program();
  Program desired = old;
  desired.sets.at("ports-misc").type.interval = true;
  Transaction tx = checked_diff(old, desired);
  std::size_t flush = index_of(tx, "flush chain inet nftpolicy pod-b");
  std::size_t del = index_of(tx, "delete set inet nftpolicy ports-misc");
  std::size_t add = index_of(
      tx,
      "create set inet nftpolicy ports-misc { type inet_proto . inet_service; flags interval; }");
  std::size_t elements =
      index_of(tx, "create element inet nftpolicy ports-misc { tcp . 443, sctp . 9000 }");
  std::size_t first_rule = index_of(
      tx, "add rule inet nftpolicy pod-b " + render_rule(desired.chains.at("pod-b").rules[0]));
  EXPECT_LT(flush, del);
  EXPECT_LT(del, add);
  EXPECT_LT(add, elements);
  EXPECT_LT(elements, first_rule);
  EXPECT_EQ(tx.count(OpKind::flush_chain), 1u);  // pod-a does not use ports-misc
  EXPECT_EQ(tx.count(OpKind::add_rule), desired.chains.at("pod-b").rules.size());
}

TEST(DiffTest, DeletedChainLosesItsReferrersFirst) {
  Program old = small_program();
  Program desired = old;
  desired.chains.erase("pod-b");
  desired.sets.at("ingress-v4").elements.erase(v4("10.244.1.6"));
  desired.chains.at("output").rules.pop_back();  // the jump to pod-b
  Transaction tx = checked_diff(old, desired);
  std::size_t flush = index_of(tx, "flush chain inet nftpolicy output");
  std::size_t element = index_of(tx, "delete element inet nftpolicy ingress-v4 { 10.244.1.6 }");
  std::size_t chain = index_of(tx, "delete chain inet nftpolicy pod-b");
  EXPECT_LT(flush, chain);
  EXPECT_LT(element, chain);
  EXPECT_EQ(tx.count(OpKind::add_rule), desired.chains.at("output").rules.size());
}

TEST(DiffTest, DoomedObjectsAreDeletedReferrersFirst) {
  // base -> (vmap) m -> c-a -> c-b -> (lookup) s; all but the base chain go away.
  Program old;
  old.put(Set{
      .name = "s", .type = testing::addr_type(KeyType::ipv4_addr), .elements = {v4("1.1.1.1")}});
  old.put(Chain{.name = "c-b", .rules = {rule({AddrSetMatch{.set = "s"}}, Verdict::accept())}});
  old.put(Chain{.name = "c-a", .rules = {rule({}, Verdict::jump("c-b"))}});
  old.put(Set{.name = "m",
              .type = testing::map_type(KeyType::ipv4_addr),
              .elements = {v4("2.2.2.2").with(Verdict::goto_("c-a"))}});
  old.put(
      Chain{.name = "base", .base = BaseChain{}, .rules = {rule({}, VmapDispatch{.map = "m"})}});
  Program desired;
  desired.put(Chain{.name = "base", .base = BaseChain{}});
  Transaction tx = checked_diff(old, desired);
  EXPECT_EQ(render(tx),
            "flush chain inet nftpolicy base\n"
            "delete map inet nftpolicy m\n"
            "delete chain inet nftpolicy c-a\n"
            "delete chain inet nftpolicy c-b\n"
            "delete set inet nftpolicy s\n");
}

TEST(DiffTest, CyclicOldProgramIsStillTornDown) {
  // Not a valid program (the kernel refuses loops), but diff must not get stuck.
  Program old;
  old.put(Chain{.name = "c-a", .rules = {rule({}, Verdict::jump("c-b"))}});
  old.put(Chain{.name = "c-b", .rules = {rule({}, VmapDispatch{.map = "m"})}});
  old.put(Set{.name = "m",
              .type = testing::map_type(KeyType::ipv4_addr),
              .elements = {v4("1.1.1.1").with(Verdict::jump("c-a"))}});
  Transaction tx = diff(old, Program{});
  EXPECT_EQ(render(tx),
            "flush chain inet nftpolicy c-a\n"
            "flush chain inet nftpolicy c-b\n"
            "delete map inet nftpolicy m\n"
            "delete chain inet nftpolicy c-a\n"
            "delete chain inet nftpolicy c-b\n");
  FakeNetlink fake(old);
  EXPECT_TRUE(fake.apply(tx).is_ok());
  EXPECT_EQ(fake.dump("nftpolicy").value(), Program{});
}

TEST(DiffTest, ChangedBaseChainIsRecreated) {
  Program old = small_program();
  Program desired = old;
  desired.chains.at("input").base->policy = ChainPolicy::drop;
  Transaction tx = checked_diff(old, desired);
  std::vector<OpKind> expected{OpKind::delete_chain, OpKind::add_chain};
  expected.insert(expected.end(), desired.chains.at("input").rules.size(), OpKind::add_rule);
  EXPECT_EQ(kinds(tx), expected);
}

TEST(DiffTest, ChainTurningBaseDropsJumpsToIt) {
  Program old = small_program();
  Program desired = old;
  desired.chains.at("pod-b").base = BaseChain{.hook = Hook::input, .priority = 5};
  desired.sets.at("ingress-v4").elements.erase(v4("10.244.1.6"));
  desired.chains.at("output").rules.pop_back();
  checked_diff(old, desired);
}

TEST(DiffTest, OtherTableIsBuiltFromScratch) {
  Program old = small_program();
  Program desired = small_program();
  desired.table = "other";
  Transaction tx = diff(old, desired);
  EXPECT_EQ(tx.table, "other");
  EXPECT_EQ(tx, diff(Program{.table = "other"}, desired));
}

TEST(DiffTest, SetBecomingMapIsRecreated) {
  Program old = small_program();
  old.put(Set{
      .name = "x", .type = testing::addr_type(KeyType::ipv4_addr), .elements = {v4("1.2.3.4")}});
  Program desired = small_program();
  desired.put(Set{.name = "x",
                  .type = testing::map_type(KeyType::ipv4_addr),
                  .elements = {v4("1.2.3.4").with(Verdict::accept())}});
  Transaction tx = checked_diff(old, desired);
  EXPECT_EQ(render(tx),
            "delete set inet nftpolicy x\n"
            "create map inet nftpolicy x { type ipv4_addr : verdict; }\n"
            "create element inet nftpolicy x { 1.2.3.4 : accept }\n");
}

}  // namespace
}  // namespace nft
