// Long-lived TCP connections for the "established connection being cut" step: a line server
// inside a pod (it greets every connection with the pod's name, so the prober's probes work
// against it too, then answers each line), and clients inside other pods that send a line
// every interval and note when each answer came back. Each runs on a thread that entered the
// pod's network namespace (setns is per thread).
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace demo {

using Clock = std::chrono::steady_clock;

class LineServer {
 public:
  LineServer(int netns_fd, int port, std::string greeting);
  ~LineServer();
  LineServer(const LineServer&) = delete;
  LineServer& operator=(const LineServer&) = delete;

  void start();  // listening when it returns (throws if the port cannot be bound)
  void stop();

 private:
  void serve(std::promise<std::string>& bound);

  int netns_fd_;
  int port_;
  std::string greeting_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class Session {
 public:
  struct Message {
    Clock::time_point sent;
    std::optional<Clock::time_point> answered;
  };

  Session(int netns_fd, std::string ip, int port, std::chrono::milliseconds interval);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Connects and reads the greeting (throws when that fails within 2 s), then sends on.
  void start();
  void stop();
  std::vector<Message> messages() const;

 private:
  void run(std::promise<std::string>& connected);
  void exchange(int fd);

  int netns_fd_;
  std::string ip_;
  int port_;
  std::chrono::milliseconds interval_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Message> messages_;
};

// Answered messages among those sent at or after `from`.
size_t answered_since(const std::vector<Session::Message>& m, Clock::time_point from);
size_t sent_since(const std::vector<Session::Message>& m, Clock::time_point from);
// When the first message that was never answered left (the connection's last breath), if any.
std::optional<Clock::time_point> first_unanswered(const std::vector<Session::Message>& m);

}  // namespace demo
