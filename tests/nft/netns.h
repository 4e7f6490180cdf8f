// Throwaway network namespaces for kernel tests: every nft command and every netlink
// socket of a test lives in one, never in the root namespace. Skipped unless root with
// `nft` and `ip` available.
#pragma once

#include <memory>
#include <string>

#include "nft/kernel_netlink.h"

namespace nft::testing {

struct Output {
  int status = -1;
  std::string text;
};

Output run(const std::string& command);
bool have(const char* tool);

class Netns {
 public:
  // nullptr (and why_not) if the test cannot have one.
  static std::unique_ptr<Netns> create(std::string& why_not);
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  const std::string& name() const { return name_; }
  Output nft(const std::string& args);
  // Runs `nft [-c] -f` on `text`.
  Output nft_file(const std::string& text, bool check_only);
  // A KernelNetlink whose socket lives in this namespace: opened by a thread that
  // setns()es into it first (the socket keeps its namespace for ever after).
  Result<std::unique_ptr<KernelNetlink>> open_netlink(KernelNetlinkOptions options = {});

 private:
  explicit Netns(std::string name);
  std::string name_;
  std::string dir_;
};

// `nft list table` output with its objects in sorted order and set elements sorted,
// so that listings of equal content compare equal whatever the history.
std::string normalize_listing(const std::string& listing);
// The normalized listing of `inet <table>` in the namespace.
std::string listing(Netns& ns, const std::string& table);

}  // namespace nft::testing

// NOLINTBEGIN(bugprone-macro-parentheses): `var` names a variable
#define REQUIRE_NETNS(var)                                                             \
  std::string why_not;                                                                 \
  std::unique_ptr<::nft::testing::Netns> var = ::nft::testing::Netns::create(why_not); \
  if (!var) GTEST_SKIP() << why_not
// NOLINTEND(bugprone-macro-parentheses)
