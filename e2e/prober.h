// The prober: connects from inside pod network namespaces to IP:port over TCP (connect, then
// read the server's reply) or UDP (send, wait for the echo), many probes at once. A probe that
// fails is tried once more before it counts as blocked, so one lost SYN under CI load is not a
// failed test; one that succeeds is final.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace e2e {

struct ProbeTask {
  int from_netns_fd = -1;  // the client's network namespace
  std::string dst_ip;
  int port = 0;
  std::string protocol = "TCP";  // TCP or UDP
  std::string expect_reply;      // TCP: the serving pod's name; catches a DNAT to the wrong pod
};

struct ProbeOutcome {
  bool connected = false;
  std::string detail;  // why it failed: "timeout", "connect: Connection refused", ...
};

struct ProberOptions {
  std::chrono::milliseconds timeout{1000};  // per connect, per reply
  int attempts = 2;
  size_t max_threads = 256;  // blocked probes wait out their timeouts side by side
};

std::vector<ProbeOutcome> probe_all(const std::vector<ProbeTask>& tasks, const ProberOptions& opt);

}  // namespace e2e
