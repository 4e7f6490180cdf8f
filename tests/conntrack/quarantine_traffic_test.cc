// The quarantine with real traffic (the lab of traffic_lab.h): a UDP server that answers each
// datagram 30 ms late, so that answers are always in flight, and a client that sends every
// 5 ms. The change makes the server admit nobody; the server may still send, and the client
// is not isolated for ingress.
//
// - With the quarantine (the default), revocation marks the flow's entry: nothing passes in
//   either direction afterwards (≥ 1 s watched), the entry is still there with the bit, and
//   the quarantine rule's counter shows it dropped the packets — the late answers included.
// - Negative control: revocation deleting the entry (quarantine_mark 0, as before): the next
//   late answer creates a NEW entry server -> client, which the policy allows, and the
//   client's datagrams then pass as its replies. The flow comes back.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <thread>
#include <vector>

#include "test_support.h"
#include "traffic_lab.h"

namespace {

using Clock = std::chrono::steady_clock;
using conntrack_test::address;
using conntrack_test::cluster;
using conntrack_test::Fd;
using conntrack_test::ip;
using conntrack_test::kClient;
using conntrack_test::kServer;
using conntrack_test::Lab;
using namespace std::chrono_literals;

constexpr auto kAnswerDelay = 30ms;
constexpr auto kSendEvery = 5ms;

// The client and the late server, each on its own thread, recording when they received.
class LateEchoFlow {
 public:
  explicit LateEchoFlow(Lab& lab)
      : server_(lab.socket_in(lab.server(), SOCK_DGRAM)),
        client_(lab.socket_in(lab.client(), SOCK_DGRAM)) {
    const sockaddr_in sa = address(kServer, 5353);
    EXPECT_EQ(bind(server_.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(connect(client_.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0);
    server_thread_ = std::thread([this] { serve(); });
    client_thread_ = std::thread([this] { send_and_receive(); });
  }
  ~LateEchoFlow() { stop(); }

  void stop() {
    stop_ = true;
    if (server_thread_.joinable()) server_thread_.join();
    if (client_thread_.joinable()) client_thread_.join();
  }
  // Datagrams the server (the client) received in [from, to): after stop() only.
  std::size_t server_received(Clock::time_point from, Clock::time_point to) const {
    return between(server_rx_, from, to);
  }
  std::size_t client_received(Clock::time_point from, Clock::time_point to) const {
    return between(client_rx_, from, to);
  }

 private:
  struct Answer {
    Clock::time_point due;
    sockaddr_in peer;
  };

  static std::size_t between(const std::vector<Clock::time_point>& v, Clock::time_point from,
                             Clock::time_point to) {
    std::size_t n = 0;
    for (auto t : v) n += t >= from && t < to ? 1 : 0;
    return n;
  }

  // Answers every datagram kAnswerDelay after it arrived.
  void serve() {
    std::deque<Answer> pending;
    while (!stop_) {
      const auto now = Clock::now();
      while (!pending.empty() && pending.front().due <= now) {
        const char reply[] = "pong";
        sendto(server_.fd, reply, sizeof reply, 0,
               reinterpret_cast<const sockaddr*>(&pending.front().peer), sizeof(sockaddr_in));
        pending.pop_front();
      }
      pollfd p{.fd = server_.fd, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 1) <= 0) continue;
      char buffer[64];
      Answer a{.due = Clock::now() + kAnswerDelay, .peer = {}};
      socklen_t len = sizeof a.peer;
      if (recvfrom(server_.fd, buffer, sizeof buffer, MSG_DONTWAIT,
                   reinterpret_cast<sockaddr*>(&a.peer), &len) > 0) {
        server_rx_.push_back(Clock::now());
        pending.push_back(a);
      }
    }
  }

  // Sends every kSendEvery and notes every answer.
  void send_and_receive() {
    auto next = Clock::now();
    while (!stop_) {
      if (Clock::now() >= next) {
        const char message[] = "ping";
        send(client_.fd, message, sizeof message, MSG_DONTWAIT);
        next += kSendEvery;
      }
      pollfd p{.fd = client_.fd, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 1) <= 0) continue;
      char buffer[64];
      if (recv(client_.fd, buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
        client_rx_.push_back(Clock::now());
      }
    }
  }

  Fd server_, client_;
  std::atomic<bool> stop_{false};
  std::vector<Clock::time_point> server_rx_, client_rx_;
  std::thread server_thread_, client_thread_;
};

struct Outcome {
  std::size_t server_after = 0;  // datagrams the server received in the watched second
  std::size_t client_after = 0;  // answers the client received in it
  std::vector<conntrack::Entry> entries;
  conntrack::RevokeReport report;
};

// The flow under the change, revoked with `options`; then 1.2 s watched, from 50 ms after
// the revocation (what was already on the wire has arrived by then).
Outcome run_flow(Lab& lab, const conntrack::RevokeOptions& options) {
  const nft::Program admit = conntrack_test::compile(cluster(true), "n1");
  const nft::Program deny = conntrack_test::compile(cluster(false), "n1");
  lab.apply(admit);
  LateEchoFlow flow(lab);
  std::this_thread::sleep_for(300ms);
  lab.apply(deny);
  std::this_thread::sleep_for(200ms);
  const auto changed = Clock::now();
  Outcome out;
  out.report = lab.revoke(admit, deny, options);
  const auto cut = Clock::now();
  std::this_thread::sleep_for(1300ms);
  flow.stop();
  const auto from = cut + 50ms, to = from + 1200ms;
  EXPECT_GT(flow.server_received(changed - 500ms, changed), 50u) << "the flow ran before";
  EXPECT_GT(flow.client_received(changed - 200ms, changed), 20u) << "answers came back before";
  out.server_after = flow.server_received(from, to);
  out.client_after = flow.client_received(from, to);
  out.entries = lab.entries();
  return out;
}

TEST(QuarantineTraffic, AQuarantinedFlowStaysStoppedBothWays) {
  REQUIRE_LAB(lab);
  const Outcome out = run_flow(*lab, {});
  EXPECT_EQ(out.report.quarantined, 1u);
  EXPECT_EQ(out.report.deleted, 0u);
  EXPECT_EQ(out.server_after, 0u) << "the client's datagrams got through";
  EXPECT_EQ(out.client_after, 0u) << "the server's answers got through";
  // The entry is still there, client -> server, carrying the bit, and kept alive by the
  // datagrams the rule drops.
  ASSERT_EQ(out.entries.size(), 1u);
  EXPECT_EQ(out.entries[0].orig.src, ip(kClient));
  EXPECT_EQ(out.entries[0].mark, compiler::kDefaultQuarantineMark);
  EXPECT_GT(conntrack_test::counted(*lab, "revoked connection"), 100u);
}

TEST(QuarantineTraffic, DeletedInsteadTheLateAnswerBringsTheFlowBack) {
  REQUIRE_LAB(lab);
  const Outcome out = run_flow(*lab, {.quarantine_mark = 0});
  EXPECT_EQ(out.report.deleted, 1u);
  EXPECT_GT(out.server_after, 100u) << "the trap did not trigger";
  EXPECT_GT(out.client_after, 100u);
  // The flow's entry now runs server -> client: created by a late answer.
  ASSERT_EQ(out.entries.size(), 1u);
  EXPECT_EQ(out.entries[0].orig.src, ip(kServer));
  EXPECT_EQ(out.entries[0].mark, 0u);
}

}  // namespace
