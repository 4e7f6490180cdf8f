// The long-lived flows of the e2e harness, as both ends speak them: pod_server serves them in
// every pod, flows.cc runs the clients. Every message carries a sequence number, so each side
// sees a lost, duplicated or late message; the server keeps per-flow statistics and prints
// them to its log on SIGUSR1 (so the harness learns what reached the server after a cut).
//
//   ticker (TCP)  the client sends "C <seq>\n" and the server "S <seq>\n", each every tick
//   push   (TCP)  the server sends "P <seq>\n" every tick; the client is silent (the
//                 mid-stream trap: after a cut, the server's packets are the first to come)
//   echo   (UDP)  the client sends "U <seq>\n" every tick; the server echoes each datagram
//   late   (UDP)  the same, but every echo leaves kLateMs after its datagram came (a server
//                 that takes time to answer: some answer is always in flight)
//
// Statistics, one line per TCP connection or UDP peer, then an end line:
//   flowstat kind=ticker peer=10.244.1.10:43512 rx=120 gaps=0 dups=0 last_rx_ns=N
//            max_silence_ns=N tx=121 state=open
//   flowstat-end flows=7
// rx, gaps, dups, last_rx_ns (CLOCK_MONOTONIC, 0 if none) and max_silence_ns (the longest
// time between two messages received) describe what the server received from the peer; tx
// counts what it sent (echoes for UDP); state is open, fin, rst or error-<errno>.
#pragma once

namespace e2e::flow {

constexpr int kTickerPort = 7000;
constexpr int kPushPort = 7001;
constexpr int kEchoPort = 7002;
constexpr int kLateEchoPort = 7003;
constexpr int kTickMs = 10;
constexpr int kLateMs = 30;
constexpr const char* kStatLine = "flowstat ";
constexpr const char* kStatEnd = "flowstat-end";

}  // namespace e2e::flow
