// A minimal HTTP/1.1 client for the latency bench: one keep-alive TCP connection, requests
// written by hand so that the bench knows the instant the request leaves (t0 is taken right
// before the write), and pipelining (many requests written before the answers are read) so
// that seeding 10k objects into the stand-in costs its processing time, not round trips.
// Plain http only (the stand-in over http and the agent's /metrics). Throws
// std::runtime_error on transport errors: the bench treats them as fatal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

struct HttpResponse {
  int status = 0;
  std::string body;
};

class HttpConnection {
 public:
  // "http://127.0.0.1:PORT" or "127.0.0.1:PORT".
  explicit HttpConnection(const std::string& url);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // The bytes of one request (Connection: keep-alive, Content-Length).
  static std::string format(std::string_view method, std::string_view path, std::string_view body,
                            std::string_view content_type = "application/json");
  // Writes bytes already formatted (one request or many, pipelined).
  void write(std::string_view bytes);
  // Reads the next answer.
  HttpResponse read_response();
  // write(bytes) then read_response().
  HttpResponse exchange(std::string_view bytes);
  // write(format(...)) then read_response().
  HttpResponse request(std::string_view method, std::string_view path, std::string_view body = {},
                       std::string_view content_type = "application/json");

 private:
  std::string read_line();
  void fill();

  int fd_ = -1;
  std::string host_;
  std::string buffer_;
  std::size_t pos_ = 0;
};

// Sends every request (already formatted) pipelined, `window` at a time (small enough that
// neither side blocks writing while the other writes too), and checks that
// each is answered with a 2xx status; returns the number of failures (the first few are
// printed).
std::size_t pipeline(HttpConnection& conn, const std::vector<std::string>& requests,
                     std::size_t window = 64);

}  // namespace bench
