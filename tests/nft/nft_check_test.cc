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
#include "nft/diff.h"
#include "nft/fake_netlink.h"
#include "nft/render.h"
#include "random_program.h"
#include "test_programs.h"

namespace nft {
namespace {

using testing::small_program;
using testing::v4;

struct Output {
  int status = -1;
  std::string text;
};

Output run(const std::string& command) {
  Output out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    return out;
  }
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    out.text.append(buffer, n);
  }
  out.status = pclose(pipe);
  return out;
}

bool have(const char* tool) {
  return run(std::string("command -v ") + tool).status == 0;
}

// A network namespace of our own; every nft command runs inside it.
class Netns {
 public:
  static std::unique_ptr<Netns> create(std::string& why_not) {
    if (geteuid() != 0) {
      return why_not = "needs root", nullptr;
    }
    if (!have("nft") || !have("ip")) {
      return why_not = "needs nft and ip", nullptr;
    }
    static std::atomic<int> counter{0};
    std::string name = "nftpol-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    Output o = run("ip netns add " + name);
    if (o.status != 0) {
      return why_not = "cannot create a network namespace: " + o.text, nullptr;
    }
    std::unique_ptr<Netns> ns(new Netns(name));
    // nf_tables must work inside it (module loaded, namespace usable).
    if (Output probe = ns->nft("list ruleset"); probe.status != 0) {
      return why_not = "nft does not work in a network namespace: " + probe.text, nullptr;
    }
    return ns;
  }
  ~Netns() {
    (void)run("ip netns del " + name_);
    std::filesystem::remove_all(dir_);
  }
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  Output nft(const std::string& args) { return run("ip netns exec " + name_ + " nft " + args); }

  // Runs `nft [-c] -f` on `text`.
  Output nft_file(const std::string& text, bool check_only) {
    std::string path = dir_ + "/input.nft";
    std::ofstream(path) << text;
    return nft(std::string(check_only ? "-c " : "") + "-f " + path);
  }

 private:
  explicit Netns(std::string name) : name_(std::move(name)) {
    dir_ = std::filesystem::temp_directory_path() / name_;
    std::filesystem::create_directories(dir_);
  }
  std::string name_;
  std::string dir_;
};

// NOLINTBEGIN(bugprone-macro-parentheses): `var` names a variable
#define REQUIRE_NETNS(var)                             \
  std::string why_not;                                 \
  std::unique_ptr<Netns> var = Netns::create(why_not); \
  if (!var) GTEST_SKIP() << why_not
// NOLINTEND(bugprone-macro-parentheses)

std::string trim(std::string s) {
  auto issp = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), issp));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), issp).base(), s.end());
  return s;
}

// `elements = { a, b,\n c }` spread over lines -> one line with sorted items.
std::string sorted_elements(const std::string& joined) {
  auto open = joined.find('{');
  auto close = joined.rfind('}');
  std::vector<std::string> items;
  std::stringstream in(joined.substr(open + 1, close - open - 1));
  for (std::string item; std::getline(in, item, ',');) {
    items.push_back(trim(item));
  }
  std::sort(items.begin(), items.end());
  std::string out = "elements = {";
  for (const std::string& item : items) {
    out += " " + item + ",";
  }
  return out + " }";
}

// `nft list table` output with its objects in sorted order and set elements sorted,
// so that listings of equal content compare equal whatever the history.
std::string normalize_listing(const std::string& listing) {
  std::vector<std::string> blocks;
  std::string block, elements;
  std::stringstream in(listing);
  for (std::string line; std::getline(in, line);) {
    if (!elements.empty() || line.find("elements = {") != std::string::npos) {
      elements += " " + trim(line);
      if (line.find('}') == std::string::npos) {
        continue;
      }
      block += sorted_elements(elements) + "\n";
      elements.clear();
    } else if (line == "\t}") {
      blocks.push_back(block);
      block.clear();
    } else if (line.rfind('\t', 0) == 0) {
      block += trim(line) + "\n";
    }
  }
  std::sort(blocks.begin(), blocks.end());
  std::string out;
  for (const std::string& b : blocks) {
    out += b + "--\n";
  }
  return out;
}

std::string listing(Netns& ns, const std::string& table) {
  Output o = ns.nft("list table inet " + table);
  EXPECT_EQ(o.status, 0) << o.text;
  return normalize_listing(o.text);
}

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
