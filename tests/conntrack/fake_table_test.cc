// FakeTable behaves like the kernel where revocation depends on it: one entry per
// connection, ids, deletes that honour ids, and the DumpFilter semantics.
#include "conntrack/fake_table.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace {

using conntrack::DumpFilter;
using conntrack::Entry;
using conntrack::FakeTable;
using conntrack::Field;
using conntrack_test::dnat;
using conntrack_test::flow;
using conntrack_test::ip;

constexpr std::uint8_t kTcp = conntrack::kProtoTcp;
constexpr std::uint8_t kUdp = conntrack::kProtoUdp;

FakeTable table_of(const std::vector<Entry>& entries) {
  FakeTable t;
  EXPECT_TRUE(t.insert(entries).is_ok());
  return t;
}

std::size_t count(FakeTable& t, const DumpFilter& f) {
  return t.entries(f).value().size();
}

TEST(FakeTable, OneEntryPerConnectionWithIds) {
  FakeTable t;
  ASSERT_TRUE(t.insert(flow(kTcp, "10.0.0.1", 40000, "10.0.0.2", 80)).is_ok());
  const auto again = t.insert(flow(kTcp, "10.0.0.1", 40000, "10.0.0.2", 80));
  ASSERT_FALSE(again.is_ok());
  EXPECT_EQ(again.error().code, nft::Errc::exists);
  // Another protocol, port or zone is another connection.
  ASSERT_TRUE(t.insert(flow(kUdp, "10.0.0.1", 40000, "10.0.0.2", 80)).is_ok());
  Entry zoned = flow(kTcp, "10.0.0.1", 40000, "10.0.0.2", 80);
  zoned.zone = 7;
  ASSERT_TRUE(t.insert(zoned).is_ok());
  ASSERT_EQ(t.all().size(), 3u);
  EXPECT_NE(t.all()[0].id, 0u);
  EXPECT_NE(t.all()[0].id, t.all()[1].id);
}

TEST(FakeTable, FiltersLikeTheKernel) {
  FakeTable t = table_of({
      flow(kTcp, "10.0.0.1", 40000, "10.0.0.2", 80),
      dnat(flow(kTcp, "10.0.0.1", 40001, "10.96.0.10", 80), "10.0.0.3", 8080),
      flow(kUdp, "10.0.0.3", 53000, "10.0.0.1", 53),
      flow(kTcp, "fd00::1", 40000, "fd00::2", 80),
  });
  Entry marked = flow(kTcp, "10.0.0.9", 40000, "10.0.0.2", 80);
  marked.mark = 0x4001;
  ASSERT_TRUE(t.insert(marked).is_ok());
  EXPECT_EQ(count(t, {}), 5u);
  EXPECT_EQ(count(t, {.family = common::Family::kV6}), 1u);
  EXPECT_EQ(count(t, DumpFilter::of(Field::orig_src, ip("10.0.0.1"))), 2u);
  EXPECT_EQ(count(t, DumpFilter::of(Field::orig_dst, ip("10.0.0.3"))), 0u);
  EXPECT_EQ(count(t, DumpFilter::of(Field::reply_src, ip("10.0.0.3"))), 1u);  // the DNAT
  EXPECT_EQ(count(t, DumpFilter::of(Field::reply_dst, ip("10.0.0.1"))), 2u);
  EXPECT_EQ(count(t, DumpFilter::of(Field::orig_src, ip("fd00::1"))), 1u);
  EXPECT_EQ(count(t, {.mark = 0x1, .mark_mask = 0x1}), 1u);
  EXPECT_EQ(count(t, {.mark = 0x0, .mark_mask = 0x1}), 4u);
}

TEST(FakeTable, AFamilyItCannotFilterIsFilteredAfterTheDump) {
  FakeTable t = table_of({flow(kTcp, "fd00::1", 40000, "fd00::2", 80),
                          flow(kTcp, "fd00::3", 40000, "fd00::2", 80),
                          flow(kTcp, "10.0.0.1", 40000, "10.0.0.2", 80)});
  t.set_filters_addresses(common::Family::kV6, false);
  EXPECT_FALSE(t.filters_addresses(common::Family::kV6));
  EXPECT_EQ(count(t, DumpFilter::of(Field::orig_src, ip("fd00::1"))), 1u);
  EXPECT_EQ(t.stats().entries_received, 2u);  // the whole IPv6 family came back
  EXPECT_EQ(t.stats().entries_visited, 1u);
  EXPECT_EQ(t.stats().dumps, 1u);
}

TEST(FakeTable, RemoveHonoursIdsAndCountsWhatIsGone) {
  FakeTable t = table_of({flow(kTcp, "10.0.0.1", 40000, "10.0.0.2", 80),
                          flow(kTcp, "10.0.0.1", 40001, "10.0.0.2", 80)});
  std::vector<Entry> dumped = t.entries().value();
  Entry stale = dumped[0];
  stale.id += 100;  // the connection was closed and opened again since the dump
  EXPECT_EQ(t.remove({stale}).value(), 0u);
  EXPECT_EQ(t.all().size(), 2u);
  EXPECT_EQ(t.remove(dumped).value(), 2u);
  EXPECT_EQ(t.remove(dumped).value(), 0u);
  EXPECT_EQ(t.stats().removed, 2u);
  EXPECT_EQ(t.stats().already_gone, 3u);
  Entry any_id = flow(kTcp, "10.0.0.5", 1, "10.0.0.6", 2);
  ASSERT_TRUE(t.insert(any_id).is_ok());
  EXPECT_EQ(t.remove({any_id}).value(), 1u);  // id 0 matches any
  EXPECT_TRUE(t.all().empty());
}

}  // namespace
