// The agent's HTTP endpoints (cpprestsdk http_listener): /metrics (Prometheus text format),
// /healthz (the sync loop is alive: it has made progress recently) and /readyz (the first
// full sync is in the kernel).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "agent/metrics.h"

namespace agent {

struct Health {
  // Bumped by the main loop on every turn (at least every 200 ms while it runs).
  std::atomic<std::int64_t> heartbeat_ms{0};
  std::function<bool()> ready;            // readiness
  std::function<std::string()> describe;  // body of /readyz and /healthz
  void beat();
};

class HttpEndpoints {
 public:
  // `address` is "HOST:PORT" or ":PORT" (all IPv4 addresses). Throws nothing: check ok().
  HttpEndpoints(const std::string& address, Registry& registry, Health& health,
                std::chrono::seconds stale_after = std::chrono::seconds(60));
  ~HttpEndpoints();
  HttpEndpoints(const HttpEndpoints&) = delete;
  HttpEndpoints& operator=(const HttpEndpoints&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& url() const { return url_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string url_;
  std::string error_;
};

// "HOST:PORT" or ":PORT" -> "http://HOST:PORT"; empty string if malformed.
std::string listen_url(const std::string& address);

}  // namespace agent
