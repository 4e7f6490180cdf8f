// KernelNetlink against the real kernel, inside throwaway network namespaces only (the
// socket is opened by a thread that has setns()ed into the namespace; the root
// namespace's ruleset is never touched). Skipped unless root.
#include "nft/kernel_netlink.h"

#include <gtest/gtest.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <thread>

#include "netns.h"
#include "nft/canonical.h"
#include "nft/diff.h"
#include "nft/fake_netlink.h"
#include "nft/render.h"
#include "nft/set_codec.h"
#include "nft/table_reader.h"
#include "random_program.h"
#include "test_programs.h"

namespace nft {
namespace {

using testing::listing;
using testing::Netns;
using testing::small_program;
using testing::v4;

std::unique_ptr<KernelNetlink> open_or_die(Netns& ns, KernelNetlinkOptions options = {}) {
  auto k = ns.open_netlink(options);
  EXPECT_TRUE(k.is_ok()) << k.error().to_string();
  return k.is_ok() ? std::move(k).value() : nullptr;
}

// Applies diff(dump, desired) and expects the dump to equal canonical(desired).
void converge(KernelNetlink& k, const Program& desired, const std::string& what) {
  auto current = k.dump(desired.table);
  ASSERT_TRUE(current.is_ok()) << what << ": " << current.error().to_string();
  Transaction tx = diff(current.value(), desired);
  Status s = k.apply(tx);
  ASSERT_TRUE(s.is_ok()) << what << ": " << s.error().to_string() << "\n" << render(tx);
  auto after = k.dump(desired.table);
  ASSERT_TRUE(after.is_ok()) << what << ": " << after.error().to_string();
  EXPECT_EQ(after.value(), canonical(desired)) << what << "\nwant:\n"
                                               << render(canonical(desired)) << "got:\n"
                                               << render(after.value());
}

Program renamed(Program p, const std::string& table) {
  p.table = table;
  return p;
}

TEST(KernelNetlinkTest, OpensAndProbesGeneration) {
  REQUIRE_NETNS(ns);
  auto k = open_or_die(*ns);
  ASSERT_NE(k, nullptr);
  auto gen = k->generation();
  ASSERT_TRUE(gen.is_ok()) << gen.error().to_string();
  // Kernels since 4.19ish know NFNL_BATCH_GENID; this one certainly does.
  EXPECT_TRUE(k->supports_batch_generation());
  auto empty = k->dump("nftpolicy");
  ASSERT_TRUE(empty.is_ok()) << empty.error().to_string();
  EXPECT_TRUE(empty.value().empty());
}

TEST(KernelNetlinkTest, SmallProgramAppliesAndReadsBack) {
  REQUIRE_NETNS(ns);
  auto k = open_or_die(*ns);
  ASSERT_NE(k, nullptr);
  Program p = small_program();
  Status s = k->apply(diff(Program{}, p));
  ASSERT_TRUE(s.is_ok()) << s.error().to_string();
  EXPECT_GT(k->last_apply().messages, 2u);
  EXPECT_EQ(k->last_apply().acks, k->last_apply().messages - 2);
  auto back = k->dump(p.table);
  ASSERT_TRUE(back.is_ok()) << back.error().to_string();
  EXPECT_EQ(back.value(), p) << render(back.value());
  // The kernel's own listing equals that of `nft -f render(p)` (into another table).
  ASSERT_EQ(ns->nft_file(render(renamed(p, "reference")), false).status, 0);
  EXPECT_EQ(listing(*ns, p.table), listing(*ns, "reference"));
  // Planning again against the read-back sends nothing at all.
  Status again = k->apply(diff(back.value(), p));
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(k->last_apply().messages, 0u);
  EXPECT_EQ(k->last_apply().bytes, 0u);
}

TEST(KernelNetlinkTest, RandomProgramsRoundTrip) {
  REQUIRE_NETNS(ns);
  auto k = open_or_die(*ns);
  ASSERT_NE(k, nullptr);
  const std::uint64_t n =
      std::getenv("NFT_KERNEL_PROGRAMS") ? std::stoull(std::getenv("NFT_KERNEL_PROGRAMS")) : 300;
  std::size_t non_canonical = 0;
  for (std::uint64_t seed = 1; seed <= n; ++seed) {
    testing::Rng rng(seed);
    Program p = testing::random_program(rng);
    non_canonical += is_canonical(p) ? 0 : 1;
    std::string what = "seed " + std::to_string(seed);
    converge(*k, p, what + " create");
    Program q = seed % 4 == 0 ? testing::random_program(rng) : testing::mutate(p, rng);
    converge(*k, q, what + " change");
    if (seed % 10 == 0) {  // the kernel's listing agrees with nft's for the same program
      ASSERT_EQ(ns->nft("delete table inet reference 2>/dev/null; true").status, 0);
      ASSERT_EQ(ns->nft_file(render(renamed(q, "reference")), false).status, 0);
      if (!q.empty()) {
        EXPECT_EQ(listing(*ns, q.table), listing(*ns, "reference")) << what;
      }
    }
    converge(*k, Program{}, what + " delete");  // dump first: nft moved the generation
    if (HasFailure()) {
      return;
    }
  }
  std::cout << "[ figures  ] " << n << " random programs, " << non_canonical
            << " with restated dependencies (read back as canonical())\n";
}

TEST(KernelNetlinkTest, OneElementIntoLargeProgramIsOneMessage) {
  REQUIRE_NETNS(ns);
  auto k = open_or_die(*ns);
  ASSERT_NE(k, nullptr);
  Program p = small_program();
  Set& pods = p.sets.at("pods-v4");
  for (std::uint32_t i = 0; i < 20000; ++i) {
    pods.elements.insert(
        Element::ipv4({10, 250, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}));
  }
  ASSERT_TRUE(k->apply(diff(Program{}, p)).is_ok());
  Program q = p;
  q.sets.at("pods-v4").elements.insert(v4("10.244.9.9"));
  Transaction tx = diff(p, q);
  ASSERT_TRUE(tx.only_elements());
  ASSERT_TRUE(k->apply(tx).is_ok());
  EXPECT_EQ(k->last_apply().messages, 3u);  // begin, one NEWSETELEM, end
  EXPECT_EQ(k->last_apply().elements, 1u);
  EXPECT_EQ(k->last_apply().acks, 1u);
  auto back = k->dump(q.table);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back.value(), q);
}

struct Refusal {
  std::string what;
  Transaction tx;
  // The kernel's answer where it differs from the fake's (which says ENOTEMPTY for every
  // overlap): nf_tables answers EEXIST when the new range starts or ends inside one.
  std::optional<Errc> kernel_code = std::nullopt;
};

std::vector<Refusal> refusals() {
  const SetType map = testing::map_type(KeyType::ipv4_addr);
  const SetType peers = testing::addr_type(KeyType::ipv4_addr, true);
  return {
      {"chain in a map", Transaction{.ops = {op::FlushChain{"output"}, op::DeleteChain{"pod-b"}}}},
      {"set in use",
       Transaction{.ops = {op::DeleteSet{"pods-v4", testing::addr_type(KeyType::ipv4_addr)}}}},
      {"element exists",
       Transaction{
           .ops = {op::AddElements{
                       "pods-v4", testing::addr_type(KeyType::ipv4_addr), {v4("10.9.9.9")}},
                   op::AddElements{"ingress-v4", map, {v4("10.244.1.5").with(Verdict::drop())}}}}},
      {"missing chain",
       Transaction{.ops = {op::AddRule{"pod-a", testing::rule({}, Verdict::accept())},
                           op::AddRule{"pod-a", testing::rule({}, Verdict::jump("nope"))}}}},
      {"chain exists", Transaction{.ops = {op::AddChain{"pod-a"}}}},
      {"set exists", Transaction{.ops = {op::AddSet{"pods-v4", peers}}}},
      {"missing set", Transaction{.ops = {op::DeleteSet{"nope", peers}}}},
      {"missing element",
       Transaction{.ops = {op::DeleteElements{
                       "pods-v4", testing::addr_type(KeyType::ipv4_addr), {v4("10.1.2.3")}}}}},
      {"overlap inside",
       Transaction{.ops = {op::AddElements{"peers-v4", peers, {testing::cidr("10.1.0.0/16")}}}},
       Errc::exists},
      {"overlap across the end",
       Transaction{
           .ops = {op::AddElements{"peers-v4", peers, {testing::range("10.255.0.0", "11.0.0.5")}}}},
       Errc::exists},
      {"overlap around",
       Transaction{
           .ops = {op::AddElements{"peers-v4", peers, {testing::range("9.0.0.0", "12.0.0.0")}}}},
       Errc::exists},
      {"overlap in a concatenation",
       Transaction{.ops = {op::AddElements{"ports-web",
                                           testing::proto_port_type(true),
                                           {Element::proto_port(kProtoTcp, 8010)}}}},
       Errc::exists},
      {"loop", Transaction{.ops = {op::AddRule{
                               "pod-a", testing::rule({}, VmapDispatch{.map = "ingress-v4"})}}}},
      {"jump to base chain",
       Transaction{.ops = {op::AddRule{"pod-a", testing::rule({}, Verdict::jump("input"))}}}},
  };
}

TEST(KernelNetlinkTest, RefusalsLeaveTheTableAsItWasAndAgreeWithTheFake) {
  REQUIRE_NETNS(ns);
  auto k = open_or_die(*ns);
  ASSERT_NE(k, nullptr);
  Program p = small_program();
  ASSERT_TRUE(k->apply(diff(Program{}, p)).is_ok());
  std::string before = listing(*ns, p.table);
  for (const Refusal& r : refusals()) {
    Status kernel = k->apply(r.tx);
    FakeNetlink fake(p);
    Status faked = fake.apply(r.tx);
    ASSERT_FALSE(kernel.is_ok()) << r.what << " accepted by the kernel";
    ASSERT_FALSE(faked.is_ok()) << r.what << " accepted by the fake";
    std::cout << "[ refusal  ] " << r.what << ": kernel " << kernel.error().to_string()
              << " | fake " << faked.error().to_string() << "\n";
    EXPECT_EQ(kernel.error().code, r.kernel_code.value_or(faked.error().code)) << r.what;
    if (kernel.error().op_index || faked.error().code != Errc::loop) {
      EXPECT_EQ(kernel.error().op_index, faked.error().op_index) << r.what;
    }
    auto back = k->dump(p.table);
    ASSERT_TRUE(back.is_ok()) << back.error().to_string();
    EXPECT_EQ(back.value(), p) << r.what;
    EXPECT_EQ(listing(*ns, p.table), before) << r.what;
  }
}

TEST(KernelNetlinkTest, ConcurrentChangeIsNoticed) {
  REQUIRE_NETNS(ns);
  auto k = open_or_die(*ns);
  ASSERT_NE(k, nullptr);
  Program p = small_program();
  ASSERT_TRUE(k->apply(diff(Program{}, p)).is_ok());
  ASSERT_TRUE(k->dump(p.table).is_ok());
  // Someone else commits (in another table): our plan may be stale.
  ASSERT_EQ(ns->nft("add table inet someone-else").status, 0);
  Program q = p;
  q.sets.at("pods-v4").elements.insert(v4("10.244.1.77"));
  Status s = k->apply(diff(p, q));
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.error().code, Errc::conflict) << s.error().to_string();
  auto back = k->dump(p.table);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back.value(), p);  // nothing applied
  EXPECT_TRUE(k->apply(diff(back.value(), q)).is_ok());
  // Our own commits do not count as someone else's.
  Program r = q;
  r.sets.at("pods-v4").elements.insert(v4("10.244.1.78"));
  EXPECT_TRUE(k->apply(diff(q, r)).is_ok());
  // A refused batch does not move the generation either.
  EXPECT_FALSE(k->apply(Transaction{.ops = {op::AddChain{"pod-a"}}}).is_ok());
  EXPECT_TRUE(k->apply(diff(r, q)).is_ok());
}

TEST(KernelNetlinkTest, ForeignContentIsDriftNotACrash) {
  REQUIRE_NETNS(ns);
  auto k = open_or_die(*ns);
  ASSERT_NE(k, nullptr);
  Program p = small_program();
  ASSERT_TRUE(k->apply(diff(Program{}, p)).is_ok());
  ASSERT_EQ(ns->nft("add rule inet nftpolicy pod-a meta mark 0x1 drop").status, 0);
  // A whole-mark comparison (no bitwise): not a CtMarkMatch as we encode it.
  ASSERT_EQ(ns->nft("add rule inet nftpolicy pod-a ct mark 0x00800000 drop").status, 0);
  ASSERT_EQ(ns->nft("add set inet nftpolicy timed '{ type ipv4_addr; timeout 1h; }'").status, 0);
  auto dumped = k->dump(p.table);
  ASSERT_FALSE(dumped.is_ok());
  EXPECT_EQ(dumped.error().code, Errc::conflict);
  EXPECT_NE(dumped.error().message.find("pod-a"), std::string::npos) << dumped.error().message;
  auto read = k->read_table(p.table);
  ASSERT_TRUE(read.is_ok());
  EXPECT_EQ(read.value().foreign.size(), 3u);
  EXPECT_EQ(read.value().tainted,
            (std::vector<ObjectRef>{ObjectRef::set("timed"), ObjectRef::chain("pod-a")}));
  // Everything else decodes as it was; flushing the tainted chain repairs it.
  EXPECT_EQ(read.value().program.sets, p.sets);
  EXPECT_EQ(read.value().program.chains.at("pod-b"), p.chains.at("pod-b"));
}

// What a resumed element dump looks like when the set was reordered between two of its
// messages: some elements twice (and others missing). The reader counts the repeats, so
// that KernelNetlink reads again instead of returning a set with elements missing.
TEST(TableReaderTest, RepeatedElementsAreCounted) {
  struct Case {
    SetType type;
    std::vector<Element> sent;  // in dump order, repeats included
    std::size_t repeated;
    std::size_t distinct;
  };
  const SetType peers = testing::addr_type(KeyType::ipv4_addr, true);
  const std::vector<Case> cases = {
      {testing::addr_type(KeyType::ipv4_addr), {v4("10.0.0.1"), v4("10.0.0.2")}, 0, 2},
      {testing::addr_type(KeyType::ipv4_addr),
       {v4("10.0.0.1"), v4("10.0.0.2"), v4("10.0.0.1")},
       1,
       2},
      {testing::map_type(KeyType::ipv4_addr),
       {v4("10.0.0.1").with(Verdict::accept()), v4("10.0.0.1").with(Verdict::accept())},
       1,
       1},
      {peers, {testing::cidr("10.1.0.0/16"), testing::range("10.3.0.0", "10.3.0.9")}, 0, 2},
      // A range repeats as two pieces (start and end); a single value as two as well.
      {peers,
       {testing::cidr("10.1.0.0/16"), v4("10.2.0.1"), testing::cidr("10.1.0.0/16"), v4("10.2.0.1")},
       4,
       2},
      {testing::proto_port_type(true),
       {Element::proto_port(kProtoTcp, 80), Element::proto_port(kProtoTcp, 80)},
       1,
       1},
  };
  for (const Case& c : cases) {
    nl::SetPtr set(nftnl_set_alloc());
    codec::encode_set(set.get(), "nftpolicy", "s", c.type, 1);
    for (const Element& e : c.sent) {
      for (const codec::ElementPiece& piece : codec::to_pieces(c.type, e, true)) {
        nftnl_set_elem* elem = nftnl_set_elem_alloc();
        codec::encode_piece(elem, piece);
        nftnl_set_elem_add(set.get(), elem);
      }
    }
    TableReader reader("nftpolicy");
    reader.add_set(set.get());
    EXPECT_EQ(reader.repeated(), c.repeated);
    ReadBack back = std::move(reader).finish();
    ASSERT_TRUE(back.foreign.empty()) << back.foreign.front();
    EXPECT_EQ(back.program.sets.at("s").elements.size(), c.distinct);
  }
}

// The number of elements `nft list set` shows for `set` (commas between the braces + 1).
std::size_t nft_element_count(Netns& ns, const std::string& table, const std::string& set) {
  testing::Output o = ns.nft("list set inet " + table + " " + set);
  EXPECT_EQ(o.status, 0) << o.text;
  std::size_t open = o.text.find("elements = {");
  if (open == std::string::npos) {
    return 0;
  }
  std::size_t close = o.text.find('}', open);
  return 1 + static_cast<std::size_t>(
                 std::count(o.text.begin() + static_cast<std::ptrdiff_t>(open),
                            o.text.begin() + static_cast<std::ptrdiff_t>(close), ','));
}

Set numbered_set(std::size_t n, bool interval) {
  Set big{.name = "big", .type = testing::addr_type(KeyType::ipv4_addr, interval)};
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t a = 0x0b000000u + 2 * i;
    big.elements.insert(
        Element::ipv4({static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16),
                       static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a)}));
  }
  return big;
}

// A large set reads back whole right after it was written. The kernel resumes an element
// dump by skipping as many elements as it already sent; a hash set (rhashtable, created
// for 4 buckets) grows in the background each time it passes 75% of its buckets, so right
// after a batch that crossed a threshold the dump used to skip elements and repeat others
// (100k elements read back as ~85k). 24,600 elements cross the 24,576 (75% of 32,768)
// threshold at the end of the batch, when the rehash most likely overlaps the dump;
// the interval set (rbtree) checks the same with two pieces per element. The count is
// also checked against `nft list`, which reads the same dump later.
TEST(KernelNetlinkTest, LargeSetReadsBackWhole) {
  REQUIRE_NETNS(ns);
  auto k = open_or_die(*ns);
  ASSERT_NE(k, nullptr);
  for (auto [n, interval] : {std::pair<std::size_t, bool>{24600, false}, {20000, true}}) {
    Program p = small_program();
    p.put(numbered_set(n, interval));
    Status s = k->apply(diff(Program{}, p));
    ASSERT_TRUE(s.is_ok()) << s.error().to_string();
    auto back = k->dump(p.table);
    ASSERT_TRUE(back.is_ok()) << back.error().to_string();
    const KernelDumpStats dumped = k->last_dump();
    ASSERT_EQ(back.value().sets.count("big"), 1u);
    EXPECT_EQ(back.value().sets.at("big").elements.size(), n);
    EXPECT_EQ(nft_element_count(*ns, p.table, "big"), n);
    EXPECT_TRUE(back.value() == p) << "read back differs from the program applied";
    std::cout << "[ readback ] " << n << (interval ? " interval" : " hash")
              << " elements: " << dumped.attempts << " attempt(s), " << dumped.repeated_elements
              << " elements repeated by discarded attempts\n";
    converge(*k, Program{}, "delete");
  }
}

// The same, made to happen: between two parts of the element dump of a hash set, a batch
// adds enough elements to the set to make its table grow, then is refused as a whole (so
// neither the content nor the generation changes). The table is rehashed with a new
// seed, and the kernel resumes the dump by position in the new order: without the
// repeated-element check, dump() returned the set with elements missing.
TEST(KernelNetlinkTest, HashSetReorderedDuringTheDumpIsReadAgain) {
  REQUIRE_NETNS(ns);
  const std::size_t n = 20000;  // a table of 32,768 buckets, grown at 12,289
  Program p;
  p.put(numbered_set(n, false));
  p.put(Chain{.name = "pod-a"});
  // 40,000 more pass 75% of the table whatever its size (32,768 or 65,536 buckets); the
  // refused chain makes the kernel take them out again, and the table shrinks back.
  Set more = numbered_set(40000, false);
  Transaction grow{.ops = {op::AddElements{"big", more.type, {}}, op::AddChain{"pod-a"}}};
  for (const Element& e : more.elements) {
    Element shifted = e;
    shifted.key[0] = 12;
    std::get<op::AddElements>(grow.ops[0]).elements.push_back(shifted);
  }
  auto other = open_or_die(*ns);
  ASSERT_NE(other, nullptr);
  int element_messages = 0;
  std::optional<Status> refused;
  KernelNetlinkOptions options;
  options.on_dump_message = [&](std::uint16_t type) {
    if (type == NFT_MSG_NEWSETELEM && ++element_messages == 2) {
      refused = other->apply(grow);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the rehash
    }
  };
  auto k = open_or_die(*ns, options);
  ASSERT_NE(k, nullptr);
  ASSERT_TRUE(k->apply(diff(Program{}, p)).is_ok());
  auto back = k->dump(p.table);
  ASSERT_TRUE(back.is_ok()) << back.error().to_string();
  ASSERT_TRUE(refused.has_value());
  EXPECT_FALSE(refused->is_ok());  // the growing batch was refused: the set is as it was
  EXPECT_EQ(nft_element_count(*ns, p.table, "big"), n);
  EXPECT_EQ(back.value().sets.at("big").elements.size(), n);
  EXPECT_TRUE(back.value() == p) << "read back differs from the program applied";
  EXPECT_GT(k->last_dump().repeated_elements, 0u);
  EXPECT_EQ(k->last_dump().attempts, 2u);
  std::cout << "[ readback ] " << element_messages << " element messages, "
            << k->last_dump().attempts << " attempts, " << k->last_dump().repeated_elements
            << " elements repeated by the disturbed attempt\n";
}

}  // namespace
}  // namespace nft
