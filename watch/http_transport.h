// Transport over cpprestsdk's http_client (Boost.Asio + OpenSSL on Linux).
//
// - TLS: the CA from the config (PEM or file) is the only trust anchor when given;
//   otherwise the system's. Client certificate and key for mutual TLS. The server's name is
//   checked against the URL's host (RFC 2818, IP SANs included).
// - The bearer token is read from its file before every request (rotation).
// - Timeouts are inactivity timeouts (cpprestsdk restarts its timer on every chunk read): a
//   watch stays open as long as events or bookmarks arrive within `stream_idle_timeout`.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "watch/kube_config.h"
#include "watch/transport.h"

namespace watch {

struct HttpTransportOptions {
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds stream_idle_timeout{120000};
  std::string user_agent = "nftpolicy-agent";
};

// Sizes cpprestsdk's shared thread pool, which runs the I/O of every client and listener
// (default: 40 threads). Call once, before any of them exists; throws if too late.
void set_http_threads(std::size_t n);

class HttpTransport final : public Transport {
 public:
  static Result<std::unique_ptr<HttpTransport>> create(const ClientConfig& config,
                                                       const HttpTransportOptions& options = {});
  ~HttpTransport() override;
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  Result<HttpResponse> get(const std::string& target) override;
  Result<HttpResponse> stream(const std::string& target,
                              const std::function<bool(std::string_view)>& on_data) override;
  void cancel() override;

 private:
  struct Impl;
  explicit HttpTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace watch
