#include "agent/http_endpoints.h"

#include <cpprest/http_listener.h>

namespace agent {
namespace {

namespace http = web::http;
using Clock = std::chrono::steady_clock;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Health::beat() {
  heartbeat_ms = now_ms();
}

std::string listen_url(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return "";
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) return "";
  if (host.empty()) host = "0.0.0.0";
  return "http://" + host + ":" + port;
}

struct HttpEndpoints::Impl {
  std::unique_ptr<http::experimental::listener::http_listener> listener;
};

HttpEndpoints::HttpEndpoints(const std::string& address, Registry& registry, Health& health,
                             std::chrono::seconds stale_after)
    : impl_(std::make_unique<Impl>()), url_(listen_url(address)) {
  if (url_.empty()) {
    error_ = "listen address \"" + address + "\" is not HOST:PORT or :PORT";
    return;
  }
  try {
    impl_->listener = std::make_unique<http::experimental::listener::http_listener>(url_);
    impl_->listener->support(http::methods::GET, [&registry, &health,
                                                  stale_after](http::http_request req) {
      const auto path = req.relative_uri().path();
      if (path == "/metrics") {
        req.reply(http::status_codes::OK, registry.render(), "text/plain; version=0.0.4");
        return;
      }
      const std::string detail = health.describe ? health.describe() : "";
      if (path == "/healthz") {
        const bool alive =
            now_ms() - health.heartbeat_ms <
            std::chrono::duration_cast<std::chrono::milliseconds>(stale_after).count();
        req.reply(alive ? http::status_codes::OK : http::status_codes::ServiceUnavailable,
                  std::string(alive ? "ok" : "the sync loop is stuck") + "\n" + detail,
                  "text/plain");
        return;
      }
      if (path == "/readyz") {
        const bool ready = health.ready && health.ready();
        req.reply(ready ? http::status_codes::OK : http::status_codes::ServiceUnavailable,
                  std::string(ready ? "ready" : "not ready: no full sync in the kernel yet") +
                      "\n" + detail,
                  "text/plain");
        return;
      }
      req.reply(http::status_codes::NotFound, "try /metrics, /healthz or /readyz\n", "text/plain");
    });
    impl_->listener->open().wait();
  } catch (const std::exception& e) {
    error_ = "cannot listen on " + url_ + ": " + e.what();
    impl_->listener.reset();
  }
}

HttpEndpoints::~HttpEndpoints() {
  if (!impl_->listener) return;
  try {
    impl_->listener->close().wait();
  } catch (const std::exception&) {
    // Closing at exit: nothing useful to do with a failure.
  }
}

}  // namespace agent
