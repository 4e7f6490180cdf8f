// Properties over many random (seeded, reproducible) program pairs:
//  - every generated program is valid;
//  - applying diff(old, new) to a fake holding old yields exactly new;
//  - planning again yields an empty transaction;
//  - element-only edits yield element-only transactions;
//  - a refused transaction leaves the fake unchanged.
#include <gtest/gtest.h>

#include "nft/diff.h"
#include "nft/fake_netlink.h"
#include "nft/render.h"
#include "nft/validate.h"
#include "random_program.h"

namespace nft {
namespace {

constexpr std::uint64_t kPairs = 500;

void expect_valid(const Program& p, std::uint64_t seed) {
  Status s = validate(p);
  ASSERT_TRUE(s.is_ok()) << "seed " << seed << ": " << s.error().to_string() << "\n" << render(p);
}

// Builds `old` in a fresh fake from nothing, then moves it to `desired`.
void check_pair(const Program& old, const Program& desired, std::uint64_t seed) {
  FakeNetlink fake;
  Transaction create = diff(Program{}, old);
  Status s = fake.apply(create);
  ASSERT_TRUE(s.is_ok()) << "seed " << seed << ": " << s.error().to_string() << "\n"
                         << render(create);
  ASSERT_EQ(fake.dump(old.table).value(), old) << "seed " << seed;

  Transaction change = diff(old, desired);
  s = fake.apply(change);
  ASSERT_TRUE(s.is_ok()) << "seed " << seed << ": " << s.error().to_string() << "\nold:\n"
                         << render(old) << "new:\n"
                         << render(desired) << "tx:\n"
                         << render(change);
  Program dumped = fake.dump(desired.table).value();
  ASSERT_EQ(dumped, desired) << "seed " << seed << "\nwant:\n"
                             << render(desired) << "got:\n"
                             << render(dumped);
  EXPECT_TRUE(diff(dumped, desired).empty()) << "seed " << seed;
  EXPECT_TRUE(diff(desired, desired).empty()) << "seed " << seed;
}

TEST(PropertyTest, DiffThenApplyReachesDesired) {
  std::size_t nonempty = 0;
  std::array<std::size_t, kOpKindCount> kinds{};
  for (std::uint64_t seed = 1; seed <= kPairs; ++seed) {
    testing::Rng rng(seed);
    Program old = testing::random_program(rng);
    Program desired = seed % 4 == 0 ? testing::random_program(rng) : testing::mutate(old, rng);
    expect_valid(old, seed);
    expect_valid(desired, seed);
    check_pair(old, desired, seed);
    if (HasFatalFailure()) {
      return;
    }
    Transaction tx = diff(old, desired);
    nonempty += tx.empty() ? 0 : 1;
    for (std::size_t k = 0; k < kOpKindCount; ++k) {
      kinds[k] += tx.count_by_kind()[k];
    }
  }
  // ... and exercise every kind of operation a change can need.
  for (OpKind k :
       {OpKind::add_set, OpKind::delete_set, OpKind::add_elements, OpKind::delete_elements,
        OpKind::add_chain, OpKind::delete_chain, OpKind::flush_chain, OpKind::add_rule}) {
    EXPECT_GT(kinds[static_cast<std::size_t>(k)], 10u) << to_string(k);
  }
  // The generator must actually produce changes most of the time.
  EXPECT_GT(nonempty, kPairs * 3 / 4);
}

TEST(PropertyTest, ElementEditsGiveElementOnlyTransactions) {
  for (std::uint64_t seed = 1; seed <= kPairs; ++seed) {
    testing::Rng rng(seed * 7919);
    Program old = testing::random_program(rng);
    Program desired = testing::mutate_elements(old, rng);
    expect_valid(desired, seed);
    Transaction tx = diff(old, desired);
    EXPECT_TRUE(tx.only_elements()) << "seed " << seed << "\n" << render(tx);
    FakeNetlink fake(old);
    ASSERT_TRUE(fake.apply(tx).is_ok()) << "seed " << seed << "\n" << render(tx);
    ASSERT_EQ(fake.dump(old.table).value(), desired) << "seed " << seed;
  }
}

TEST(PropertyTest, RefusedTransactionsChangeNothing) {
  // A transaction planned from a wrong belief about the kernel must either work
  // completely or leave the state exactly as it was.
  std::size_t refused = 0;
  for (std::uint64_t seed = 1; seed <= kPairs; ++seed) {
    testing::Rng rng(seed * 104729);
    Program actual = testing::random_program(rng);
    Program believed = testing::mutate(actual, rng);
    Program desired = testing::mutate(believed, rng);
    FakeNetlink fake(actual);
    Status s = fake.apply(diff(believed, desired));
    if (s.is_ok()) {
      continue;
    }
    ++refused;
    ASSERT_TRUE(s.error().op_index.has_value()) << "seed " << seed;
    EXPECT_EQ(fake.dump(actual.table).value(), actual)
        << "seed " << seed << ": " << s.error().to_string();
  }
  EXPECT_GT(refused, 0u);
}

TEST(PropertyTest, FailingLastOperationRollsBackEverything) {
  for (std::uint64_t seed = 1; seed <= kPairs; ++seed) {
    testing::Rng rng(seed * 15485863);
    Program old = testing::random_program(rng);
    Program desired = testing::mutate(old, rng);
    Transaction tx = diff(old, desired);
    tx.ops.push_back(op::DeleteChain{"no-such-chain"});
    FakeNetlink fake(old);
    Status s = fake.apply(tx);
    ASSERT_FALSE(s.is_ok()) << "seed " << seed;
    EXPECT_EQ(s.error().code, Errc::not_found);
    EXPECT_EQ(s.error().op_index, tx.size() - 1);
    EXPECT_EQ(fake.dump(old.table).value(), old) << "seed " << seed;
    EXPECT_EQ(fake.generation(), 0u);
  }
}

}  // namespace
}  // namespace nft
