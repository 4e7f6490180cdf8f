// KernelTable and the revoker against the kernel's conntrack table, inside throwaway network
// namespaces only (sockets opened by a thread that entered the namespace; `conntrack -L`
// run there with `ip netns exec`). Skipped unless root with `ip`, `nft` and `conntrack`.
#include "conntrack/kernel_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>

#include "conntrack/codec.h"
#include "conntrack/netlink_socket.h"
#include "conntrack/revoker.h"
#include "netns.h"
#include "nft/canonical.h"
#include "nft/diff.h"
#include "nft/render.h"
#include "revoke_cases.h"
#include "test_support.h"

namespace {

using conntrack::DumpFilter;
using conntrack::Entry;
using conntrack::Field;
using conntrack::KernelTable;
using conntrack_test::dnat;
using conntrack_test::flow;
using conntrack_test::ip;
using nft::testing::Netns;

constexpr std::uint8_t kTcp = conntrack::kProtoTcp;
constexpr std::uint8_t kUdp = conntrack::kProtoUdp;
constexpr std::uint8_t kSctp = conntrack::kProtoSctp;

std::unique_ptr<KernelTable> open_table(const Netns& ns, std::string& why_not) {
  std::unique_ptr<KernelTable> table;
  const bool entered = conntrack_test::in_netns(ns.name(), [&] {
    auto t = KernelTable::open();
    if (!t) {
      why_not = t.error().to_string();
      return;
    }
    // A dump tells whether ctnetlink is there at all.
    if (auto probe = t.value()->entries(); !probe) {
      why_not = "no conntrack netlink: " + probe.error().to_string();
      return;
    }
    table = std::move(t).value();
  });
  if (!entered) why_not = "cannot enter " + ns.name();
  return table;
}

// NOLINTBEGIN(bugprone-macro-parentheses)
#define REQUIRE_TABLE(ns, table)                                              \
  REQUIRE_NETNS(ns);                                                          \
  if (!nft::testing::have("conntrack")) GTEST_SKIP() << "needs conntrack(8)"; \
  std::unique_ptr<KernelTable> table = open_table(*ns, why_not);              \
  if (!table) GTEST_SKIP() << why_not
// NOLINTEND(bugprone-macro-parentheses)

std::string conntrack_list(const Netns& ns) {
  return nft::testing::run("ip netns exec " + ns.name() + " conntrack -L 2>/dev/null").text;
}

// How `conntrack -L` shows the original tuple of `e`.
std::string listed_as(const Entry& e) {
  std::string s = "src=" + e.orig.src.str() + " dst=" + e.orig.dst.str() + " ";
  if (conntrack::has_ports(e.l4proto)) {
    return s + "sport=" + std::to_string(e.orig.sport) + " dport=" + std::to_string(e.orig.dport);
  }
  return s + "type=" + std::to_string(e.icmp.type) + " code=" + std::to_string(e.icmp.code) +
         " id=" + std::to_string(e.icmp.id);
}

std::vector<Entry> sample() {
  Entry marked = flow(kTcp, "10.0.0.9", 40000, "10.0.0.2", 80);
  marked.mark = 0x10;
  Entry zoned = flow(kUdp, "10.0.0.1", 53001, "10.0.0.2", 53);
  zoned.zone = 3;
  return {flow(kTcp, "10.0.0.1", 40000, "10.0.0.2", 80),
          dnat(flow(kTcp, "10.0.0.1", 40001, "10.96.0.10", 80), "10.0.0.3", 8080),
          flow(kUdp, "10.0.0.3", 53000, "10.0.0.1", 53),
          flow(kSctp, "10.0.0.1", 40002, "10.0.0.2", 9000),
          conntrack_test::icmp("10.0.0.1", "10.0.0.2"),
          flow(kTcp, "fd00::1", 40000, "fd00::2", 80),
          flow(kTcp, "fd00::3", 40000, "fd00::2", 80),
          dnat(flow(kUdp, "fd00::1", 53000, "fd00:96::10", 53), "fd00::4", 5353),
          marked,
          zoned};
}

// The fields a dump gives back as they were created (the kernel adds id and CONFIRMED).
Entry comparable(Entry e) {
  e.id = 0;
  e.status &= conntrack::kStatusSeenReply | conntrack::kStatusAssured;
  return e;
}

TEST(KernelTableCodec, CreateMessagesParseBackToTheEntry) {
  char buffer[conntrack::codec::kMaxMessage];
  for (const Entry& e : sample()) {
    const nlmsghdr* nlh = conntrack::codec::build_create(buffer, e, 1, 60);
    ASSERT_LE(nlh->nlmsg_len, sizeof buffer);
    auto back = conntrack::codec::parse(nlh);
    ASSERT_TRUE(back.has_value()) << conntrack::to_string(e);
    if (e.l4proto == conntrack::kProtoIcmp) back->reply = e.reply;  // no ports to compare
    EXPECT_EQ(comparable(*back), comparable(e)) << conntrack::to_string(*back);
  }
}

TEST(KernelTable, InsertDumpFilterAndRemove) {
  REQUIRE_TABLE(ns, table);
  const std::vector<Entry> entries = sample();
  ASSERT_TRUE(table->insert(entries).is_ok());
  auto all = table->entries();
  ASSERT_TRUE(all.is_ok()) << all.error().to_string();
  ASSERT_EQ(all.value().size(), entries.size());
  for (const Entry& e : entries) {
    auto it = std::find_if(all.value().begin(), all.value().end(),
                           [&](const Entry& got) { return got.same_connection(e); });
    ASSERT_NE(it, all.value().end()) << conntrack::to_string(e);
    Entry got = comparable(*it);
    if (e.l4proto == conntrack::kProtoIcmp) got.reply = e.reply;
    EXPECT_EQ(got, comparable(e));
    EXPECT_NE(it->id, 0u);
  }
  const std::string listed = conntrack_list(*ns);
  for (const Entry& e : entries) EXPECT_NE(listed.find(listed_as(e)), std::string::npos) << listed;
  EXPECT_TRUE(table->insert(std::vector<Entry>{entries[0]}).error().code == nft::Errc::exists);

  // IPv4 address filters run in the kernel: only matching entries come back.
  table->reset_stats();
  EXPECT_EQ(table->entries(DumpFilter::of(Field::orig_src, ip("10.0.0.1"))).value().size(), 5u);
  EXPECT_EQ(table->stats().entries_received, 5u);
  EXPECT_EQ(table->entries(DumpFilter::of(Field::reply_src, ip("10.0.0.3"))).value().size(), 1u);
  EXPECT_EQ(table->entries(DumpFilter::of(Field::reply_dst, ip("10.0.0.3"))).value().size(), 1u);
  EXPECT_EQ(table->entries({.mark = 0x10, .mark_mask = 0xff}).value().size(), 1u);
  // IPv6 ones are applied here, after a dump of the family.
  table->reset_stats();
  EXPECT_EQ(table->entries(DumpFilter::of(Field::orig_src, ip("fd00::1"))).value().size(), 2u);
  EXPECT_EQ(table->stats().entries_received, 3u);
  EXPECT_EQ(table->entries(DumpFilter::of(Field::reply_src, ip("fd00::4"))).value().size(), 1u);

  // Deletes honour the id: an entry "re-created" since the dump is not touched.
  std::vector<Entry> dumped = all.value();
  Entry stale = dumped[0];
  stale.id ^= 1;
  EXPECT_EQ(table->remove({stale}).value(), 0u);
  EXPECT_EQ(table->stats().already_gone, 1u);
  auto removed = table->remove(dumped);
  ASSERT_TRUE(removed.is_ok()) << removed.error().to_string();
  EXPECT_EQ(removed.value(), entries.size());
  EXPECT_EQ(table->entries().value().size(), 0u);
  EXPECT_EQ(conntrack_list(*ns).find("src="), std::string::npos);
}

TEST(KernelTable, DeletesAndMarksGoOutInBatches) {
  REQUIRE_TABLE(ns, table);
  std::vector<Entry> many;
  for (std::uint16_t i = 0; i < 3000; ++i) {
    many.push_back(flow(kTcp, "10.1.0.1", static_cast<std::uint16_t>(10000 + i), "10.2.0.1", 80));
  }
  ASSERT_TRUE(table->insert(many).is_ok());
  table->reset_stats();
  auto dumped = table->entries();
  ASSERT_EQ(dumped.value().size(), many.size());
  // Mark changes go out the same way.
  EXPECT_EQ(table->change_mark(dumped.value(), conntrack::MarkChange::set(0x2)).value(),
            many.size());
  EXPECT_EQ(table->stats().sendmsg_calls, 3u);  // 1024 messages per sendmsg
  EXPECT_EQ(table->entries({.mark = 0x2, .mark_mask = 0x2}).value().size(), many.size());
  table->reset_stats();
  EXPECT_EQ(table->remove(dumped.value()).value(), many.size());
  EXPECT_EQ(table->stats().sendmsg_calls, 3u);
  EXPECT_EQ(table->stats().messages_sent, many.size());
  EXPECT_TRUE(table->entries().value().empty());
}

// Not a requirement, a record: does this kernel's IPv6 tuple filter compare the right way
// round? (KernelTable never relies on it.)
TEST(KernelTable, Ipv6AddressFilterOfThisKernel) {
  REQUIRE_TABLE(ns, table);
  ASSERT_TRUE(table->insert(sample()).is_ok());
  std::size_t got = 0;
  const bool entered = conntrack_test::in_netns(ns->name(), [&] {
    auto socket = conntrack::nl::Socket::open();
    ASSERT_TRUE(socket.is_ok());
    char request[conntrack::codec::kMaxMessage];
    const auto* nlh = conntrack::codec::build_dump(
        request, DumpFilter::of(Field::orig_src, ip("fd00::1")), socket.value()->take_seqs(1));
    std::size_t messages = 0;
    ASSERT_TRUE(socket.value()
                    ->dump(
                        nlh, [&](const nlmsghdr*) { ++got; }, messages)
                    .is_ok());
  });
  ASSERT_TRUE(entered);
  // 2 entries have src fd00::1; 1 other IPv6 entry.
  std::printf("[ kernel   ] IPv6 CTA_FILTER src=fd00::1 returned %zu entries (%s)\n", got,
              got == 2   ? "correct"
              : got == 1 ? "inverted: the known bug"
                         : "unexpected");
  EXPECT_TRUE(got == 2 || got == 1) << got;
}

// The mark of an existing entry, as the kernel holds it (a dump).
std::uint32_t mark_of(KernelTable& table, const Entry& e) {
  std::optional<std::uint32_t> mark;
  const auto status = table.dump({}, [&](const Entry& got) {
    if (got.same_connection(e)) mark = got.mark;
  });
  EXPECT_TRUE(status.is_ok());
  EXPECT_TRUE(mark.has_value()) << "no entry " << conntrack::to_string(e);
  return mark.value_or(0);
}

constexpr std::uint32_t kBit = compiler::kDefaultQuarantineMark;

// Quarantine sets and clears one bit of an entry's mark with an update (IPCTNL_MSG_CT_NEW
// without NLM_F_CREATE) carrying CTA_MARK and CTA_MARK_MASK: the other bits stay, the
// entry's status (SEEN_REPLY, ASSURED) is not touched, and a missing entry is ENOENT.
TEST(KernelTable, ChangeMarkSetsAndClearsOneBit) {
  REQUIRE_TABLE(ns, table);
  const std::vector<Entry> entries = sample();
  ASSERT_TRUE(table->insert(entries).is_ok());
  const Entry& marked = entries[8];  // mark 0x10, TCP
  const Entry& udp = entries[2];
  const Entry& icmp = entries[4];
  auto set = table->change_mark({marked, udp, icmp}, conntrack::MarkChange::set(kBit));
  ASSERT_TRUE(set.is_ok()) << set.error().to_string();
  EXPECT_EQ(set.value(), 3u);
  EXPECT_EQ(mark_of(*table, marked), 0x10u | kBit);
  EXPECT_EQ(mark_of(*table, udp), kBit);
  EXPECT_EQ(mark_of(*table, icmp), kBit);
  EXPECT_EQ(mark_of(*table, entries[0]), 0u);
  const std::string listed = conntrack_list(*ns);
  EXPECT_NE(listed.find("mark=" + std::to_string(0x10u | kBit)), std::string::npos) << listed;
  EXPECT_EQ(table->entries({.mark = kBit, .mark_mask = kBit}).value().size(), 3u);
  auto clear = table->change_mark({marked, udp}, conntrack::MarkChange::clear(kBit));
  ASSERT_TRUE(clear.is_ok()) << clear.error().to_string();
  EXPECT_EQ(mark_of(*table, marked), 0x10u);
  EXPECT_EQ(mark_of(*table, udp), 0u);
  const auto all = table->entries();
  ASSERT_TRUE(all.is_ok()) << all.error().to_string();
  for (const Entry& got : all.value()) {
    EXPECT_EQ(got.status & conntrack::kStatusAssured, conntrack::kStatusAssured);
  }
  table->reset_stats();
  const Entry gone = flow(kUdp, "10.9.9.9", 1, "10.9.9.8", 2);
  EXPECT_EQ(table->change_mark({gone}, conntrack::MarkChange::set(kBit)).value(), 0u);
  EXPECT_EQ(table->stats().already_gone, 1u);
}

// Not a requirement, a record: CTA_MARK alone replaces the whole mark; with CTA_MARK_MASK
// the kernel computes (mark & ~mask) ^ value (ctnetlink_change_mark).
TEST(KernelTable, MarkUpdateOfThisKernel) {
  REQUIRE_TABLE(ns, table);
  Entry e = flow(kUdp, "10.0.0.1", 53001, "10.0.0.2", 53);
  e.mark = 0x4001;
  ASSERT_TRUE(table->insert(std::vector<Entry>{e}).is_ok());
  std::uint32_t whole = 0;
  const bool entered = conntrack_test::in_netns(ns->name(), [&] {
    auto socket = conntrack::nl::Socket::open();
    ASSERT_TRUE(socket.is_ok());
    char request[conntrack::codec::kMaxMessage];
    const std::uint32_t seq = socket.value()->take_seqs(1);
    nlmsghdr* nlh = conntrack::codec::build_mark(request, e, seq, conntrack::MarkChange::set(kBit));
    nlh->nlmsg_len -= MNL_ALIGN(sizeof(nlattr) + sizeof(std::uint32_t));  // drop CTA_MARK_MASK
    auto acks = socket.value()->batch({request, nlh->nlmsg_len}, seq, 1);
    ASSERT_TRUE(acks.is_ok());
    EXPECT_EQ(acks.value().ok, 1u) << acks.value().first_message;
  });
  ASSERT_TRUE(entered);
  whole = mark_of(*table, e);
  ASSERT_TRUE(table->change_mark({e}, {.value = 0x4001, .mask = 0xffffffff}).is_ok());
  ASSERT_TRUE(table->change_mark({e}, conntrack::MarkChange::set(kBit)).is_ok());
  const std::uint32_t masked = mark_of(*table, e);
  std::printf(
      "[ kernel   ] mark 0x4001, update to 0x%x: CTA_MARK alone gives 0x%x, "
      "with CTA_MARK_MASK 0x%x\n",
      kBit, whole, masked);
  EXPECT_EQ(whole, kBit);
  EXPECT_EQ(masked, 0x4001u | kBit);
}

// The revoker against the kernel: the program is applied with KernelNetlink, the entries of
// revoke_cases.h are created, and exactly the denied ones are cut: TCP ones gone from
// `conntrack -L`, the others listed with the quarantine mark.
TEST(KernelRevoke, CutsExactlyTheDeniedEntries) {
  REQUIRE_TABLE(ns, table);
  const nft::Program before = conntrack_test::compile(conntrack_test::kPods, "n1");
  const nft::Program after =
      conntrack_test::compile(conntrack_test::kPods + conntrack_test::kPolicies, "n1");
  auto nl = ns->open_netlink();
  ASSERT_TRUE(nl.is_ok()) << nl.error().to_string();
  ASSERT_TRUE(nl.value()->apply(nft::diff(nft::Program{}, before)).is_ok());
  std::vector<conntrack_test::Case> cases;
  for (const auto& c : conntrack_test::cases()) {
    // An expected (RELATED) entry cannot be created over ctnetlink.
    if ((c.entry.status & conntrack::kStatusExpected) == 0) cases.push_back(c);
  }
  std::vector<Entry> entries;
  for (const auto& c : cases) entries.push_back(c.entry);
  ASSERT_TRUE(table->insert(entries).is_ok());
  ASSERT_TRUE(nl.value()->apply(nft::diff(before, after)).is_ok());
  // The program, mid-stream guard included, reads back as applied.
  auto back = nl.value()->dump(after.table);
  ASSERT_TRUE(back.is_ok()) << back.error().to_string();
  EXPECT_EQ(back.value(), nft::canonical(after));
  // … and the kernel lists it as nft(8) lists the same program loaded from its rendering.
  nft::Program reference = after;
  reference.table = "reference";
  ASSERT_EQ(ns->nft_file(nft::render(reference), false).status, 0);
  EXPECT_EQ(nft::testing::listing(*ns, after.table), nft::testing::listing(*ns, "reference"));

  const conntrack::Scope scope = conntrack::scope_of_change(before, after);
  // Per-address dumps, as for a large table (this one is small: one whole dump would do).
  auto report =
      conntrack::revoke(after, *table, scope, conntrack_test::kNode, {.whole_table_below = 0});
  ASSERT_TRUE(report.is_ok()) << report.error().to_string();
  const auto count = [&](bool tcp) {
    return static_cast<std::size_t>(std::count_if(cases.begin(), cases.end(), [&](const auto& c) {
      return c.denied && (c.entry.l4proto == kTcp) == tcp;
    }));
  };
  EXPECT_EQ(report.value().deleted, count(true));
  EXPECT_EQ(report.value().quarantined, count(false));  // UDP, SCTP, ICMP
  // job as source; api's IPv4 and (family) IPv6; the entries in quarantine (by mark)
  EXPECT_EQ(report.value().dumps, 4u);
  std::istringstream listed(conntrack_list(*ns));
  std::vector<std::string> lines;
  for (std::string line; std::getline(listed, line);) lines.push_back(line);
  for (const auto& c : cases) {
    const auto line = std::find_if(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.find(listed_as(c.entry)) != std::string::npos;
    });
    const bool deleted = c.denied && c.entry.l4proto == kTcp;
    ASSERT_EQ(line == lines.end(), deleted) << c.what;
    if (line == lines.end()) continue;
    const bool quarantined = line->find("mark=" + std::to_string(kBit)) != std::string::npos;
    EXPECT_EQ(quarantined, c.denied) << c.what << "\n" << *line;
  }
  // The program before the change allows them all: released.
  auto back_again = conntrack::revoke(before, *table, conntrack::scope_of_change(after, before),
                                      conntrack_test::kNode);
  ASSERT_TRUE(back_again.is_ok()) << back_again.error().to_string();
  EXPECT_EQ(back_again.value().released, count(false));
  EXPECT_EQ(table->entries({.mark = kBit, .mark_mask = kBit}).value().size(), 0u);
}

TEST(KernelRevoke, RemoveAddressesLeavesNothingOfThem) {
  REQUIRE_TABLE(ns, table);
  ASSERT_TRUE(table->insert(sample()).is_ok());
  auto report = conntrack::remove_addresses(*table, {ip("10.0.0.3"), ip("fd00::4")});
  ASSERT_TRUE(report.is_ok()) << report.error().to_string();
  // 10.0.0.3: the DNAT target and the UDP client; fd00::4: the IPv6 DNAT target.
  EXPECT_EQ(report.value().deleted, 3u);
  const std::string listed = conntrack_list(*ns);
  EXPECT_EQ(listed.find("10.0.0.3"), std::string::npos) << listed;
  EXPECT_EQ(listed.find("fd00::4"), std::string::npos) << listed;
  EXPECT_EQ(table->entries().value().size(), sample().size() - 3);
}

}  // namespace
