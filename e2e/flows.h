// Long-lived flows from inside pod network namespaces (the clients of flow_protocol.h): each
// flow is a thread that enters the client pod's namespace (setns, like the prober), connects
// to the server pod and keeps its flow running — sending a numbered message every tick where
// the kind says so, and recording every message received with its time — until stop().
// What the server received is read from the server's own statistics (server_stats()).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace e2e {

using FlowClock = std::chrono::steady_clock;  // CLOCK_MONOTONIC, as the servers' timestamps
using TimePoint = FlowClock::time_point;

enum class FlowKind {
  tcp_both,  // TCP, both sides send every tick (flow_protocol.h: ticker)
  tcp_push,  // TCP, the server pushes, the client is silent (push)
  udp_echo,  // UDP, the client sends, the server echoes (echo)
  udp_late,  // UDP, the same, the server echoes kLateMs later (late)
};
bool is_udp(FlowKind k);
const char* to_string(FlowKind k);
int flow_port(FlowKind k);
// The kind as the server's statistics name it: ticker, push, echo, late.
const char* server_kind(FlowKind k);

struct FlowSpec {
  std::string from, to;  // pod keys, "x/a"
  FlowKind kind = FlowKind::tcp_both;
  int from_netns_fd = -1;  // the client pod's network namespace
  std::string dst_ip;      // the server pod's IP
  bool same_node = false;
  std::string label() const;  // "x/a -> x/c tcp-both (same node)"
};

// What the client saw. Sequence numbers are the positions in `sent` (client messages) and the
// numbers the server put in its messages (received).
struct FlowRecord {
  std::string
      local;  // the client socket's "ip:port": the flow's key at the server and in conntrack
  std::string connect_error;        // empty once connected
  std::vector<TimePoint> sent;      // when each client message left (TCP: was queued)
  std::vector<TimePoint> received;  // when each server message arrived
  uint64_t gaps = 0, dups = 0;      // in the server's sequence as received
  std::string first_anomaly;        // "expected 41, got 45 at +1.234 s"
  std::string end;                  // how it ended before stop(): "rst", "fin", "error: ..."
  TimePoint ended{};
  size_t send_errors = 0;  // UDP: ECONNREFUSED (an ICMP error came back) and the like
};

struct FlowRunnerOptions {
  std::chrono::milliseconds tick{10};
  std::chrono::milliseconds connect_timeout{2000};
};

class FlowRunner {
 public:
  explicit FlowRunner(FlowRunnerOptions opt = {}) : opt_(opt) {}
  ~FlowRunner();
  FlowRunner(const FlowRunner&) = delete;
  FlowRunner& operator=(const FlowRunner&) = delete;

  size_t add(FlowSpec spec);  // before start()
  // Starts every flow; returns once each has connected or failed to (see connect_error).
  void start();
  void stop();  // joins the threads; the records are complete afterwards
  size_t size() const { return flows_.size(); }
  const FlowSpec& spec(size_t i) const { return flows_.at(i)->spec; }
  const FlowRecord& record(size_t i) const { return flows_.at(i)->rec; }
  TimePoint started() const { return started_; }

 private:
  struct Flow {
    FlowSpec spec;
    FlowRecord rec;
    bool settled = false;  // connected or failed; guarded by mu_
  };
  void run(Flow& f);
  bool connect_flow(Flow& f, int& fd);
  void loop(Flow& f, int fd);
  void settle(Flow& f);

  FlowRunnerOptions opt_;
  std::vector<std::unique_ptr<Flow>> flows_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  TimePoint started_{};
};

// ---- reading the records --------------------------------------------------------------------

double seconds(TimePoint from, TimePoint to);
size_t received_between(const FlowRecord& r, TimePoint from, TimePoint to);
std::optional<TimePoint> last_received(const FlowRecord& r);
// The longest time within [from, to] without a message received (the edges count: a flow
// silent since `from` has been silent for to - from).
double longest_silence(const FlowRecord& r, TimePoint from, TimePoint to);

// What a server received from one client (see flow_protocol.h).
struct ServerFlowStat {
  std::string kind, peer, state;
  uint64_t rx = 0, gaps = 0, dups = 0, tx = 0;
  std::optional<TimePoint> last_rx;
  double max_silence = 0;  // seconds
};
// "kind peer" -> stat, e.g. "ticker 10.244.1.10:43512".
using ServerStats = std::map<std::string, ServerFlowStat>;
std::string stat_key(FlowKind k, const std::string& peer);
// Asks a pod_server for its flow statistics (SIGUSR1) and reads them from its log.
ServerStats server_stats(pid_t server, const std::string& log);

// p50 and max of a list of seconds, "p50 0.012 s, max 0.034 s (n=9)".
std::string p50_max(std::vector<double> v);
std::string format_ms(double secs);      // "12 ms"
std::string format_offset(double secs);  // "+0.012 s"

}  // namespace e2e
