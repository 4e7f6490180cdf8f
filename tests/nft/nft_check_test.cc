// The real `nft` (and kernel) accept what we render: whole programs, and
// transactions applied on top of the program they were planned from. Everything runs
// inside a throwaway network namespace, never in the root one; skipped unless root
// with `nft` and `ip` available.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "golden.h"
#include "netns.h"
#include "nft/diff.h"
#include "nft/fake_netlink.h"
#include "nft/render.h"
#include "random_program.h"
#include "test_programs.h"

namespace nft {
namespace {

using testing::small_program;
using testing::v4;

using testing::listing;
using testing::Netns;
using testing::Output;

TEST(NftCheckTest, SmallProgramIsAccepted) {
  REQUIRE_NETNS(ns);
  Output o = ns->nft_file(render(small_program()), true);
  EXPECT_EQ(o.status, 0) << o.text << "\n" << render(small_program());
  o = ns->nft_file(render(diff(Program{}, small_program())), true);
  EXPECT_EQ(o.status, 0) << o.text;
  // -c changed nothing, even in the namespace.
  EXPECT_EQ(ns->nft("list ruleset").text, "");
}

TEST(NftCheckTest, GoldenFilesAreAccepted) {
  REQUIRE_NETNS(ns);
  for (const char* name : {"small_program.nft", "small_program_create.nft"}) {
    Output o = ns->nft("-c -f " + testing::golden_path(name));
    EXPECT_EQ(o.status, 0) << name << ": " << o.text;
  }
}

// Loads `old` for real (inside the namespace), checks and applies diff(old, desired),
// and compares the kernel's listing with that of `desired` loaded from scratch.
void expect_kernel_agrees(Netns& ns, const Program& old, const Program& desired,
                          const std::string& what) {
  Transaction tx = diff(old, desired);
  ASSERT_EQ(ns.nft("flush ruleset").status, 0);
  if (!old.empty()) {
    Output o = ns.nft_file(render(old), false);
    ASSERT_EQ(o.status, 0) << what << ": loading old: " << o.text << "\n" << render(old);
  }
  if (tx.empty()) {
    return;
  }
  std::string script = render(tx);
  Output o = ns.nft_file(script, true);
  ASSERT_EQ(o.status, 0) << what << ": nft -c: " << o.text << "\n" << script;
  o = ns.nft_file(script, false);
  ASSERT_EQ(o.status, 0) << what << ": nft -f: " << o.text << "\n" << script;
  std::string after = listing(ns, desired.table);
  if (!desired.empty()) {
    EXPECT_NE(after.find("--"), std::string::npos) << "empty listing";
  }
  ASSERT_EQ(ns.nft("flush ruleset").status, 0);
  o = ns.nft_file(render(desired), false);
  ASSERT_EQ(o.status, 0) << what << ": loading desired: " << o.text;
  EXPECT_EQ(after, listing(ns, desired.table)) << what << "\n" << script;
}

TEST(NftCheckTest, HandWrittenTransactionsAreAccepted) {
  REQUIRE_NETNS(ns);
  Program p = small_program();
  std::vector<std::pair<std::string, Program>> cases;
  Program pod = p;
  pod.sets.at("pods-v4").elements.insert(v4("10.244.1.7"));
  pod.sets.at("ingress-v4").elements.insert(v4("10.244.1.7").with(Verdict::jump("pod-b")));
  cases.emplace_back("add pod", pod);
  Program verdict = p;
  verdict.sets.at("ingress-v4").elements.erase(v4("10.244.1.5"));
  verdict.sets.at("ingress-v4").elements.insert(v4("10.244.1.5").with(Verdict::jump("pod-b")));
  cases.emplace_back("change verdict", verdict);
  Program interval = p;
  interval.sets.at("peers-v4").elements.erase(testing::cidr("10.0.0.0/8"));
  interval.sets.at("peers-v4").elements.insert(testing::cidr("10.0.0.0/9"));
  interval.sets.at("ports-web").elements.erase(Element::proto_port_range(kProtoTcp, 8000, 8080));
  interval.sets.at("ports-web").elements.insert(Element::proto_port_range(kProtoTcp, 8000, 8090));
  cases.emplace_back("change intervals", interval);
  Program retype = p;
  retype.sets.at("ports-misc").type.interval = true;
  cases.emplace_back("retype set", retype);
  Program no_pod_b = p;
  no_pod_b.chains.erase("pod-b");
  no_pod_b.sets.at("ingress-v4").elements.erase(v4("10.244.1.6"));
  no_pod_b.chains.at("output").rules.pop_back();
  cases.emplace_back("delete chain", no_pod_b);
  Program policy = p;
  policy.chains.at("input").base->policy = ChainPolicy::drop;
  cases.emplace_back("base chain policy", policy);
  cases.emplace_back("delete all", Program{});
  expect_kernel_agrees(*ns, Program{}, p, "create");
  for (const auto& [what, desired] : cases) {
    expect_kernel_agrees(*ns, p, desired, what);
    if (HasFatalFailure()) {
      return;
    }
  }
}

TEST(NftCheckTest, ListingComparisonSeesDifferences) {
  REQUIRE_NETNS(ns);
  ASSERT_EQ(ns->nft_file(render(small_program()), false).status, 0);
  std::string before = listing(*ns, "nftpolicy");
  EXPECT_NE(before.find("10.244.1.5 : jump pod-a"), std::string::npos) << before;
  ASSERT_EQ(ns->nft("add element inet nftpolicy pods-v4 { 10.244.1.99 }").status, 0);
  EXPECT_NE(listing(*ns, "nftpolicy"), before);
}

TEST(NftCheckTest, RandomTransactionsAreAccepted) {
  REQUIRE_NETNS(ns);
  const std::uint64_t pairs =
      std::getenv("NFT_KERNEL_PAIRS") ? std::stoull(std::getenv("NFT_KERNEL_PAIRS")) : 40;
  for (std::uint64_t seed = 1; seed <= pairs; ++seed) {
    testing::Rng rng(seed);
    Program old = testing::random_program(rng);
    Program desired = seed % 4 == 0 ? testing::random_program(rng) : testing::mutate(old, rng);
    expect_kernel_agrees(*ns, old, desired, "seed " + std::to_string(seed));
    if (HasFatalFailure()) {
      return;
    }
  }
}

// The fake refuses what the kernel refuses.
TEST(NftCheckTest, KernelRefusesWhatTheFakeRefuses) {
  REQUIRE_NETNS(ns);
  const SetType map = testing::map_type(KeyType::ipv4_addr);
  const std::vector<std::pair<std::string, Transaction>> cases = {
      {"chain in a map", Transaction{.ops = {op::FlushChain{"output"}, op::DeleteChain{"pod-b"}}}},
      {"set in use",
       Transaction{.ops = {op::DeleteSet{"pods-v4", testing::addr_type(KeyType::ipv4_addr)}}}},
      {"element exists",
       Transaction{
           .ops = {op::AddElements{"ingress-v4", map, {v4("10.244.1.5").with(Verdict::drop())}}}}},
      {"missing chain",
       Transaction{.ops = {op::AddRule{"pod-a", testing::rule({}, Verdict::jump("nope"))}}}},
      {"chain exists", Transaction{.ops = {op::AddChain{"pod-a"}}}},
      {"loop", Transaction{.ops = {op::AddRule{
                               "pod-a", testing::rule({}, VmapDispatch{.map = "ingress-v4"})}}}},
  };
  ASSERT_EQ(ns->nft_file(render(small_program()), false).status, 0);
  for (const auto& [what, tx] : cases) {
    Output o = ns->nft_file(render(tx), true);
    EXPECT_NE(o.status, 0) << what << " accepted by nft:\n" << render(tx);
    FakeNetlink fake(small_program());
    EXPECT_FALSE(fake.apply(tx).is_ok()) << what << " accepted by the fake";
  }
}

}  // namespace
}  // namespace nft
