// "A probe sees it": two pods wired into the node's network namespace the way a routed CNI
// does it (a veth per pod, a /32 route and a static neighbour on the node side, a default
// route through a link-local gateway on the pod side), a TCP server in one and a prober in
// the other that opens a new connection every `interval` (non-blocking connect; a SYN that
// gets no answer within `timeout` counts as blocked, as the agent's rules drop silently).
// Every probe is kept with its send time, so that the bench can tell when the verdict
// changed: the send time of the first probe of the final run of the new verdict.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/ip.h"
#include "latency_procs.h"

namespace bench {

// A pod network namespace with `ip`, its veth peer in `node_ns` (index: 1..250, for the
// interface name and MAC addresses). Deleted with its veth by the destructor.
class PodNet {
 public:
  PodNet(const std::string& node_ns, const std::string& name, const common::IpAddr& ip, int index);
  // Deletes the veth first: a deleted namespace is torn down asynchronously, and its veth
  // peer would linger in the node's namespace for a while.
  ~PodNet();
  PodNet(const PodNet&) = delete;
  PodNet& operator=(const PodNet&) = delete;
  const std::string& netns() const { return ns_.name(); }

 private:
  Netns ns_;
  std::string node_ns_, host_if_;
};

// Enables forwarding in the node's namespace (a fresh one forwards nothing).
void enable_forwarding(const std::string& node_ns);

struct ProbeResult {
  Clock::time_point sent;
  bool done = false;
  bool allowed = false;
};

struct ProberOptions {
  std::chrono::microseconds interval{500};
  std::chrono::milliseconds timeout{30};
};

class Prober {
 public:
  Prober(const std::string& client_ns, const std::string& server_ns, common::IpAddr server_ip,
         std::uint16_t port, ProberOptions options = {});
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Starts probing (forgets the previous results).
  void arm();
  // Waits until the last `k` probes settled in send order show `allowed`.
  bool wait_settled(bool allowed, std::size_t k, Clock::time_point deadline);
  // Stops probing; every probe sent since arm() (pending ones not done).
  std::vector<ProbeResult> disarm();
  // The send time of the first probe of the final run of `allowed` verdicts, among the probes
  // settled in send order.
  static std::optional<Clock::time_point> verdict_since(const std::vector<ProbeResult>& probes,
                                                        bool allowed);
  std::size_t refused() const { return refused_; }

 private:
  void serve(const std::string& server_ns, std::uint16_t port);
  void probe(const std::string& client_ns);
  void probe_armed(int epoch);

  common::IpAddr server_ip_;
  std::uint16_t port_;
  ProberOptions options_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false;
  int epoch_ = 0;  // bumped by arm(): probes of an older epoch are not recorded
  bool listening_ = false;
  std::vector<ProbeResult> results_;
  std::atomic<std::size_t> refused_{0};
  std::thread server_, prober_;
};

}  // namespace bench
