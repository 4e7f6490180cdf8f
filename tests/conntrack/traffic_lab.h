// Real traffic for revocation tests, in three throwaway namespaces: a client "pod"
// (10.100.1.2) and a server "pod" (10.100.2.2), each joined by a veth to a router namespace
// that plays the node: it forwards between them, holds the table (applied with KernelNetlink)
// and the conntrack entries (nf_conntrack_tcp_loose=1, the kernel default). In cluster(true)
// the server admits the client on TCP 8080 and UDP 5353; cluster(false) admits nobody.
// Shared by guard_traffic_test.cc and quarantine_traffic_test.cc.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "conntrack/kernel_table.h"
#include "conntrack/revoker.h"
#include "netns.h"

namespace conntrack_test {

inline constexpr const char* kClient = "10.100.1.2";
inline constexpr const char* kServer = "10.100.2.2";

// The lab's cluster: a client pod and a server pod on n1, the server isolated for ingress.
std::string cluster(bool admit_client);

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd();
};

sockaddr_in address(const char* addr, std::uint16_t port);

// The namespaces, their wiring, and the node's KernelNetlink and KernelTable.
class Lab {
 public:
  static std::unique_ptr<Lab> create(std::string& why_not);

  // Applies `p` (compiled for n1) as the change from the current program.
  void apply(const nft::Program& p);

  conntrack::RevokeReport revoke(const nft::Program& before, const nft::Program& after,
                                 const conntrack::RevokeOptions& options = {});

  // The node's entries between the two pods, either way round.
  std::vector<conntrack::Entry> entries();

  // A socket of `type` in `ns` (3 s send and receive timeouts).
  Fd socket_in(const nft::testing::Netns& ns, int type);

  const nft::testing::Netns& client() const { return *client_; }
  nft::testing::Netns& node() { return *node_; }
  const nft::testing::Netns& server() const { return *server_; }

 private:
  Lab() = default;
  bool wire(std::string& why_not);

  std::unique_ptr<nft::testing::Netns> client_, server_, node_;
  std::unique_ptr<nft::KernelNetlink> nl_;
  std::unique_ptr<conntrack::KernelTable> table_;
  nft::Program current_;
};

// The packets counted by the rules of the node's forward chain whose comment contains
// `comment`.
std::uint64_t counted(Lab& lab, const std::string& comment);

// Whether `to` receives something within `ms` (and consumes it).
bool receives(int to, int ms);
// Whether a message sent on `from` reaches `to` within `ms`.
bool passes(int from, int to, int ms = 1500);
// A UDP server that answers: whether a datagram arrived within `ms` (then it is echoed).
bool echoes(int server, int ms);

}  // namespace conntrack_test

#define REQUIRE_LAB(var)                                                           \
  std::string why_not;                                                             \
  std::unique_ptr<conntrack_test::Lab> var = conntrack_test::Lab::create(why_not); \
  if (!var) GTEST_SKIP() << why_not
