// The batch builder, without a kernel: what it encodes is what was meant. Every batch
// is parsed back with libnftnl and decoded into a Transaction that must equal the one
// built (in canonical form), and the headers must say what the kernel relies on.
#include "nft/batch_builder.h"

#include <gtest/gtest.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include "batch_parser.h"
#include "nft/canonical.h"
#include "nft/diff.h"
#include "nft/render.h"
#include "random_program.h"
#include "test_programs.h"

namespace nft {
namespace {

using testing::expected_parse;
using testing::parse_batch;
using testing::small_program;

// Set types of `old` (the sets that exist before the transaction), for PortSetMatch.
BatchOptions options_for(const Program& old) {
  BatchOptions options;
  options.existing_set = [old](const std::string& name) -> std::optional<SetType> {
    const Set* s = old.find_set(name);
    return s != nullptr ? std::optional(s->type) : std::nullopt;
  };
  return options;
}

void expect_round_trip(const Program& old, const Program& desired, const std::string& what) {
  Transaction tx = diff(old, desired);
  auto batch = build_batch(tx, options_for(old));
  ASSERT_TRUE(batch.is_ok()) << what << ": " << batch.error().to_string();
  if (tx.empty()) {
    EXPECT_TRUE(batch.value().bytes.empty()) << what;
    return;
  }
  testing::ParsedBatch parsed = parse_batch(batch.value(), tx);
  EXPECT_TRUE(parsed.problems.empty()) << what << ": " << parsed.problems.front();
  Transaction want = expected_parse(tx);
  ASSERT_EQ(parsed.transaction.ops.size(), want.ops.size()) << what << "\n" << render(tx);
  for (std::size_t i = 0; i < want.ops.size(); ++i) {
    EXPECT_EQ(parsed.transaction.ops[i], want.ops[i])
        << what << ": op " << i << "\nwant: " << render_op(tx.table, want.ops[i])
        << "\ngot:  " << render_op(tx.table, parsed.transaction.ops[i]);
  }
}

TEST(BatchBuilderTest, EmptyTransactionIsEmptyBatch) {
  auto batch = build_batch(Transaction{});
  ASSERT_TRUE(batch.is_ok());
  EXPECT_TRUE(batch.value().empty());
  EXPECT_TRUE(batch.value().bytes.empty());
}

TEST(BatchBuilderTest, SmallProgramRoundTrips) {
  expect_round_trip(Program{}, small_program(), "create");
  expect_round_trip(small_program(), Program{}, "delete");
}

TEST(BatchBuilderTest, SequenceNumbersMapToOps) {
  Transaction tx = diff(Program{}, small_program());
  auto batch = build_batch(tx, BatchOptions{.first_seq = 1000});
  ASSERT_TRUE(batch.is_ok());
  const Batch& b = batch.value();
  EXPECT_EQ(b.messages.front().seq, 1000u);
  EXPECT_EQ(b.next_seq(), 1000u + b.messages.size());
  // Every op produced at least one message, in order.
  std::size_t expected_op = 0;
  for (const BatchMessage& m : b.messages) {
    EXPECT_EQ(b.find(m.seq), &m);
    if (m.op_index) {
      EXPECT_GE(*m.op_index, expected_op > 0 ? expected_op - 1 : 0);
      expected_op = *m.op_index + 1;
    }
  }
  EXPECT_EQ(expected_op, tx.ops.size());
  EXPECT_EQ(b.find(999), nullptr);
  EXPECT_EQ(b.find(1000 + static_cast<std::uint32_t>(b.messages.size())), nullptr);
}

TEST(BatchBuilderTest, GenerationGoesIntoBatchBegin) {
  auto batch = build_batch(diff(Program{}, small_program()), BatchOptions{.generation = 77});
  ASSERT_TRUE(batch.is_ok());
  const auto* begin = reinterpret_cast<const nlmsghdr*>(batch.value().bytes.data());
  // nlmsghdr + nfgenmsg + one u32 attribute.
  EXPECT_EQ(begin->nlmsg_len, 16u + 4u + 8u);
  auto empty = build_empty_batch(5, std::nullopt);
  EXPECT_EQ(empty.messages.size(), 2u);
  EXPECT_EQ(reinterpret_cast<const nlmsghdr*>(empty.bytes.data())->nlmsg_len, 20u);
}

TEST(BatchBuilderTest, MultiProtocolMatchCreatesAnonymousSet) {
  Program p = small_program();
  Transaction tx{.ops = {op::AddRule{"pod-b", p.chains.at("pod-b").rules.at(0)}}};
  auto batch = build_batch(tx);
  ASSERT_TRUE(batch.is_ok());
  // begin, anonymous set, its elements, the rule, end: all of op 0.
  ASSERT_EQ(batch.value().messages.size(), 5u);
  EXPECT_EQ(batch.value().messages[1].type, NFT_MSG_NEWSET);
  EXPECT_EQ(batch.value().messages[2].type, NFT_MSG_NEWSETELEM);
  EXPECT_EQ(batch.value().messages[3].type, NFT_MSG_NEWRULE);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(batch.value().messages[i].op_index, std::optional<std::size_t>(0));
  }
  expect_round_trip(Program{}, p, "anonymous");
}

TEST(BatchBuilderTest, LargeElementListsAreChunked) {
  for (bool interval : {false, true}) {
    Set set{.name = "big", .type = testing::addr_type(KeyType::ipv4_addr, interval)};
    for (std::uint32_t i = 0; i < 100000; ++i) {
      // Every other address, so that intervals never touch.
      std::uint32_t a = 0x0a000000u + 2 * i;
      set.elements.insert(
          Element::ipv4({static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16),
                         static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a)}));
    }
    Program p;
    p.put(set);
    Transaction tx = diff(Program{}, p);
    auto batch = build_batch(tx);
    ASSERT_TRUE(batch.is_ok());
    const Batch& b = batch.value();
    EXPECT_EQ(b.elements, 100000u);
    std::size_t element_messages = 0;
    for (const BatchMessage& m : b.messages) {
      EXPECT_LE(m.length, BatchOptions{}.max_message_bytes);
      element_messages += m.type == NFT_MSG_NEWSETELEM ? 1 : 0;
    }
    EXPECT_GT(element_messages, 10u);
    EXPECT_LT(element_messages, interval ? 200u : 100u);
    expect_round_trip(Program{}, p, interval ? "interval" : "plain");
  }
}

TEST(BatchBuilderTest, TopOfRangeIntervalsAreOpen) {
  Program p;
  p.put(Set{.name = "top",
            .type = testing::addr_type(KeyType::ipv4_addr, true),
            .elements = {testing::cidr("255.0.0.0/8"), testing::v4("10.0.0.1")}});
  p.put(Set{.name = "ports",
            .type = SetType{.key = {KeyType::inet_service}, .interval = true},
            .elements = {Element::port(65535), Element::port_range(0, 5)}});
  expect_round_trip(Program{}, p, "top");
}

TEST(BatchBuilderTest, RandomTransactionsRoundTrip) {
  for (std::uint64_t seed = 1; seed <= 500; ++seed) {
    testing::Rng rng(seed);
    Program old = testing::random_program(rng);
    Program desired = seed % 3 == 0 ? testing::random_program(rng) : testing::mutate(old, rng);
    expect_round_trip(Program{}, old, "seed " + std::to_string(seed) + " create");
    expect_round_trip(old, desired, "seed " + std::to_string(seed) + " change");
    if (HasFailure()) {
      return;
    }
  }
}

TEST(CanonicalTest, DropsOnlyRestatedDependencies) {
  Rule r = testing::rule({NfprotoMatch{}, AddrSetMatch{.set = "s"}}, Verdict::accept());
  EXPECT_EQ(canonical(r).matches, std::vector<Match>{AddrSetMatch{.set = "s"}});
  Rule kept = testing::rule({NfprotoMatch{}, IfnameMatch{.name = "lo"}, AddrSetMatch{.set = "s"}},
                            Verdict::accept());
  EXPECT_EQ(canonical(kept), kept);
  Rule tcp = testing::rule(
      {L4protoMatch{.protocols = {kProtoTcp}}, TcpFlagsMatch{.mask = kTcpSyn, .value = kTcpSyn}},
      Verdict::drop());
  EXPECT_EQ(canonical(tcp).matches.size(), 1u);
  Rule vmap = testing::rule({NfprotoMatch{.family = Family::ipv6}},
                            VmapDispatch{.family = Family::ipv6, .map = "m"});
  EXPECT_TRUE(canonical(vmap).matches.empty());
  vmap.counter = true;  // the counter sits between: the nfproto match stays explicit
  EXPECT_EQ(canonical(vmap), vmap);
  EXPECT_TRUE(is_canonical(small_program()));
}

}  // namespace
}  // namespace nft
