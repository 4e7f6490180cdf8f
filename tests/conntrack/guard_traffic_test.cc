// Revocation and the mid-stream guard with real traffic. Three throwaway namespaces: a
// client "pod" (10.100.1.2) and a server "pod" (10.100.2.2), each joined by a veth to a
// router namespace that plays the node: it forwards between them, holds the table
// (applied with KernelNetlink) and the conntrack entries (nf_conntrack_tcp_loose=1, the
// kernel default). The server admits the client on TCP 8080 and UDP 5353; the change
// replaces that by "admit nobody".
//
// - After the change alone, established traffic still flows (conntrack lets it through
//   before any policy): revocation is what stops it.
// - After revocation: the client's data, and — with the guard — the server's push, never
//   get through again, and no new entry appears.
// - Negative control: compiled without the guard, the server's push is picked up mid-stream
//   as a new server->client connection the policy allows, and the client's packets then
//   pass as its replies: the connection is alive again. The guard is what stops that.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include "conntrack/kernel_table.h"
#include "conntrack/revoker.h"
#include "netns.h"
#include "nft/diff.h"
#include "test_support.h"

namespace {

using conntrack::DumpFilter;
using conntrack::Entry;
using conntrack::Field;
using conntrack::KernelTable;
using conntrack_test::ip;
using nft::testing::Netns;
using nft::testing::run;

constexpr const char* kClient = "10.100.1.2";
constexpr const char* kServer = "10.100.2.2";

std::string cluster(bool admit_client) {
  const std::string from = admit_client ? "client" : "nobody";
  return conntrack_test::pod("lab", "client", "n1", kClient, "app: client") +
         conntrack_test::pod("lab", "server", "n1", kServer, "app: server") +
         conntrack_test::policy("lab", "server-in",
                                "podSelector: {matchLabels: {app: server}}, ingress: [{from: "
                                "[{podSelector: {matchLabels: {app: " +
                                    from +
                                    "}}}], ports: [{port: 8080}, {port: 5353, protocol: UDP}]}]");
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

sockaddr_in address(const char* addr, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, addr, &sa.sin_addr);
  return sa;
}

// The namespaces, their wiring, and the node's KernelNetlink and KernelTable.
class Lab {
 public:
  static std::unique_ptr<Lab> create(std::string& why_not) {
    auto lab = std::unique_ptr<Lab>(new Lab);
    for (auto* ns : {&lab->client_, &lab->server_, &lab->node_}) {
      *ns = Netns::create(why_not);
      if (!*ns) return nullptr;
    }
    if (!lab->wire(why_not)) return nullptr;
    conntrack_test::in_netns(lab->node_->name(), [&] {
      if (auto t = KernelTable::open(); t) lab->table_ = std::move(t).value();
    });
    auto nl = lab->node_->open_netlink();
    if (!lab->table_ || !nl) return why_not = "cannot open netlink sockets in the node", nullptr;
    lab->nl_ = std::move(nl).value();
    return lab;
  }

  // Applies `p` (compiled for n1) as the change from the current program.
  void apply(const nft::Program& p) {
    ASSERT_TRUE(nl_->apply(nft::diff(current_, p)).is_ok());
    current_ = p;
  }

  conntrack::RevokeReport revoke(const nft::Program& before, const nft::Program& after) {
    const conntrack::NodeAddresses node{{ip("10.100.1.1"), ip("10.100.2.1")}};
    auto r = conntrack::revoke(after, *table_, conntrack::scope_of_change(before, after), node);
    EXPECT_TRUE(r.is_ok()) << r.error().to_string();
    return r.is_ok() ? r.value() : conntrack::RevokeReport{};
  }

  // The node's entries between the two pods, either way round.
  std::vector<Entry> entries() {
    std::vector<Entry> out;
    for (const char* a : {kClient, kServer}) {
      auto found = table_->entries(DumpFilter::of(Field::orig_src, ip(a)));
      EXPECT_TRUE(found.is_ok());
      if (found.is_ok()) out.insert(out.end(), found.value().begin(), found.value().end());
    }
    return out;
  }

  Fd socket_in(const Netns& ns, int type) {
    Fd fd;
    conntrack_test::in_netns(ns.name(), [&] { fd = Fd(::socket(AF_INET, type, 0)); });
    timeval timeout{.tv_sec = 3, .tv_usec = 0};
    setsockopt(fd.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    return fd;
  }

  const Netns& client() const { return *client_; }
  Netns& node() { return *node_; }
  const Netns& server() const { return *server_; }

 private:
  Lab() = default;
  bool wire(std::string& why_not) {
    const std::string r = "ip -n " + node_->name() + " ";
    const std::vector<std::string> commands = {
        r + "link add ra type veth peer name eth0 netns " + client_->name(),
        r + "link add rb type veth peer name eth0 netns " + server_->name(),
        r + "addr add 10.100.1.1/24 dev ra", r + "addr add 10.100.2.1/24 dev rb",
        r + "link set ra up", r + "link set rb up", r + "link set lo up",
        "ip netns exec " + node_->name() + " sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'",
        // The kernel default, stated: the trap exists because of it.
        "ip netns exec " + node_->name() +
            " sh -c 'echo 1 > /proc/sys/net/netfilter/nf_conntrack_tcp_loose'"};
    for (const auto& c : commands) {
      if (auto o = run(c); o.status != 0) return why_not = c + ": " + o.text, false;
    }
    for (const auto& [ns, addr, gw] : {std::tuple{client_.get(), "10.100.1.2/24", "10.100.1.1"},
                                       std::tuple{server_.get(), "10.100.2.2/24", "10.100.2.1"}}) {
      const std::string p = "ip -n " + ns->name() + " ";
      for (const std::string& c : {p + "addr add " + addr + " dev eth0", p + "link set eth0 up",
                                   p + "link set lo up", p + "route add default via " + gw}) {
        if (auto o = run(c); o.status != 0) return why_not = c + ": " + o.text, false;
      }
    }
    return true;
  }

  std::unique_ptr<Netns> client_, server_, node_;
  std::unique_ptr<nft::KernelNetlink> nl_;
  std::unique_ptr<KernelTable> table_;
  nft::Program current_;
};

#define REQUIRE_LAB(var)                           \
  std::string why_not;                             \
  std::unique_ptr<Lab> var = Lab::create(why_not); \
  if (!var) GTEST_SKIP() << why_not

// Whether `to` receives something within `ms` (and consumes it).
bool receives(int to, int ms) {
  pollfd p{.fd = to, .events = POLLIN, .revents = 0};
  if (poll(&p, 1, ms) <= 0) return false;
  char buffer[4096];
  return recv(to, buffer, sizeof buffer, MSG_DONTWAIT) > 0;
}

bool passes(int from, int to, int ms = 1500) {
  const char message[] = "data";
  return send(from, message, sizeof message, MSG_NOSIGNAL) > 0 && receives(to, ms);
}

// A UDP server that answers: whether a datagram arrived within `ms` (then it is echoed).
bool echoes(int server, int ms) {
  pollfd p{.fd = server, .events = POLLIN, .revents = 0};
  if (poll(&p, 1, ms) <= 0) return false;
  char buffer[512];
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  const ssize_t n = recvfrom(server, buffer, sizeof buffer, MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&peer), &len);
  if (n <= 0) return false;
  sendto(server, buffer, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&peer), len);
  return true;
}

struct Connection {
  Fd listener, client, server;
};

Connection connect_tcp(Lab& lab) {
  Connection c{.listener = lab.socket_in(lab.server(), SOCK_STREAM),
               .client = lab.socket_in(lab.client(), SOCK_STREAM)};
  const int one = 1;
  setsockopt(c.listener.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in sa = address(kServer, 8080);
  EXPECT_EQ(bind(c.listener.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0);
  EXPECT_EQ(listen(c.listener.fd, 1), 0);
  EXPECT_EQ(connect(c.client.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0)
      << std::strerror(errno);
  c.server = Fd(accept(c.listener.fd, nullptr, nullptr));
  EXPECT_GE(c.server.fd, 0);
  EXPECT_TRUE(passes(c.client.fd, c.server.fd));
  EXPECT_TRUE(passes(c.server.fd, c.client.fd));
  // Let delayed ACKs go by: afterwards only the side under test speaks.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return c;
}

// Changes the policy to "admit nobody"; established traffic still flows until revocation,
// which deletes the connection's one entry.
void change_and_revoke(Lab& lab, Connection& c, const compiler::Options& options) {
  const nft::Program admit = conntrack_test::compile(cluster(true), "n1", options);
  const nft::Program deny = conntrack_test::compile(cluster(false), "n1", options);
  lab.apply(deny);
  EXPECT_TRUE(passes(c.client.fd, c.server.fd)) << "established traffic outlives the change";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto report = lab.revoke(admit, deny);
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_EQ(report.dumps, 1u);  // the server, as destination
  EXPECT_TRUE(lab.entries().empty());
}

void setup(Lab& lab, Connection& c, const compiler::Options& options) {
  lab.apply(conntrack_test::compile(cluster(true), "n1", options));
  c = connect_tcp(lab);
  ASSERT_EQ(lab.entries().size(), 1u);
  change_and_revoke(lab, c, options);
}

// Packets the guard's rules dropped in the node (their counters).
std::uint64_t guard_drops(Lab& lab) {
  const nft::testing::Output o = lab.node().nft("list chain inet nftpolicy forward");
  std::uint64_t total = 0;
  std::istringstream in(o.text);
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find("counter packets ");
    if (line.find("mid-stream") == std::string::npos || at == std::string::npos) continue;
    total += std::stoull(line.substr(at + 16));
  }
  return total;
}

TEST(GuardTraffic, ClientDataStopsAfterRevocation) {
  REQUIRE_LAB(lab);
  Connection c;
  ASSERT_NO_FATAL_FAILURE(setup(*lab, c, {}));
  EXPECT_FALSE(passes(c.client.fd, c.server.fd));
  EXPECT_TRUE(lab->entries().empty());
}

TEST(GuardTraffic, ServerPushStopsAfterRevocation) {
  REQUIRE_LAB(lab);
  Connection c;
  ASSERT_NO_FATAL_FAILURE(setup(*lab, c, {}));
  EXPECT_EQ(guard_drops(*lab), 0u);
  EXPECT_FALSE(passes(c.server.fd, c.client.fd));
  EXPECT_TRUE(lab->entries().empty()) << conntrack::to_string(lab->entries().front());
  // It was the guard: the policy itself allows server -> client (see the next test).
  EXPECT_GT(guard_drops(*lab), 0u);
  // Nor can the client ride on anything the push left behind.
  EXPECT_FALSE(passes(c.client.fd, c.server.fd));
}

// A RST without an entry is `ct state invalid`: conntrack creates nothing, the policy judges
// it like a first packet, and server -> client is allowed: the client learns the connection
// is gone instead of retransmitting into the void.
TEST(GuardTraffic, AResetFromTheServerReachesTheClient) {
  REQUIRE_LAB(lab);
  Connection c;
  ASSERT_NO_FATAL_FAILURE(setup(*lab, c, {}));
  const linger abort{.l_onoff = 1, .l_linger = 0};
  ASSERT_EQ(setsockopt(c.server.fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
  c.server = Fd();  // close: sends a RST
  pollfd p{.fd = c.client.fd, .events = POLLIN, .revents = 0};
  ASSERT_GT(poll(&p, 1, 2000), 0) << "no RST reached the client";
  char buffer[16];
  EXPECT_LT(recv(c.client.fd, buffer, sizeof buffer, MSG_DONTWAIT), 0);
  EXPECT_EQ(errno, ECONNRESET);
  EXPECT_TRUE(lab->entries().empty());
}

TEST(GuardTraffic, WithoutTheGuardAServerPushRevivesTheConnection) {
  REQUIRE_LAB(lab);
  Connection c;
  ASSERT_NO_FATAL_FAILURE(setup(*lab, c, {.midstream_guard = false}));
  EXPECT_TRUE(passes(c.server.fd, c.client.fd, 3000)) << "the trap did not trigger";
  const auto entries = lab->entries();
  ASSERT_EQ(entries.size(), 1u);
  // Picked up mid-stream the other way round, and established.
  EXPECT_EQ(entries[0].orig.src, ip(kServer));
  EXPECT_NE(entries[0].status & conntrack::kStatusSeenReply, 0u)
      << conntrack::to_string(entries[0]);
  EXPECT_TRUE(passes(c.client.fd, c.server.fd)) << "the client's packets pass as replies";
}

// UDP has no handshake to guard: a datagram without an entry is judged as the first packet of
// a flow in the direction it travels. A client that keeps sending to a server that answers
// (so the entry is established, and outlives the change) is cut by revocation.
TEST(GuardTraffic, AUdpFlowThatKeepsSendingStops) {
  REQUIRE_LAB(lab);
  const nft::Program admit = conntrack_test::compile(cluster(true), "n1");
  const nft::Program deny = conntrack_test::compile(cluster(false), "n1");
  lab->apply(admit);
  Fd server = lab->socket_in(lab->server(), SOCK_DGRAM);
  Fd client = lab->socket_in(lab->client(), SOCK_DGRAM);
  const sockaddr_in sa = address(kServer, 5353);
  ASSERT_EQ(bind(server.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(connect(client.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0);
  // A stream of datagrams, 20 ms apart, each answered: how many of `n` arrive.
  auto stream = [&](int n) {
    int got = 0;
    for (int i = 0; i < n; ++i) {
      const char message[] = "ping";
      EXPECT_GT(send(client.fd, message, sizeof message, 0), 0);
      got += echoes(server.fd, 20) ? 1 : 0;
      while (receives(client.fd, 5)) {
      }
    }
    while (echoes(server.fd, 100)) ++got;
    return got;
  };
  EXPECT_EQ(stream(10), 10);
  lab->apply(deny);
  EXPECT_EQ(stream(10), 10) << "the entry keeps carrying the flow after the change";
  const auto report = lab->revoke(admit, deny);
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_EQ(stream(20), 0);
  EXPECT_TRUE(lab->entries().empty());
}

}  // namespace
