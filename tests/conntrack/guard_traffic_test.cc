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
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "test_support.h"
#include "traffic_lab.h"

namespace {

using conntrack_test::address;
using conntrack_test::cluster;
using conntrack_test::echoes;
using conntrack_test::Fd;
using conntrack_test::ip;
using conntrack_test::kClient;
using conntrack_test::kServer;
using conntrack_test::Lab;
using conntrack_test::passes;
using conntrack_test::receives;

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
  EXPECT_EQ(report.dumps, 1u);  // a small table: the server's flows and the quarantine, one walk
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
  return conntrack_test::counted(lab, "mid-stream");
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
// (so the entry is established, and outlives the change) is cut by revocation — with the
// quarantine, its entry stays, marked, and drops the flow (quarantine_traffic_test.cc shows
// why deleting it is not enough); without, its entry is deleted.
void udp_flow_stops(const conntrack::RevokeOptions& options) {
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
  const auto report = lab->revoke(admit, deny, options);
  EXPECT_EQ(report.deleted + report.quarantined, 1u);
  EXPECT_EQ(stream(20), 0);
  const auto entries = lab->entries();
  if (options.quarantine_mark == 0) {
    EXPECT_TRUE(entries.empty());
  } else {
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].orig.src, ip(kClient));
    EXPECT_EQ(entries[0].mark, options.quarantine_mark);
  }
}

TEST(GuardTraffic, AUdpFlowThatKeepsSendingStops) {
  udp_flow_stops({});
}

TEST(GuardTraffic, AUdpFlowThatKeepsSendingStopsWhenDeleted) {
  udp_flow_stops({.quarantine_mark = 0});
}

}  // namespace
