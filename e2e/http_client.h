// A small HTTP/1.1 client for the harness: the agents' /metrics and /readyz (plain http) and
// the stand-in's control API (https, verified against its CA). Each request runs on a thread
// of its own that first enters the given network namespace, so the runner reaches 127.0.0.1
// inside a node or the stand-in on the underlay without a process per request.
#pragma once

#include <chrono>
#include <string>

namespace e2e {

struct HttpRequest {
  int netns_fd = -1;  // -1: the runner's own namespace
  std::string host;   // an IP address
  int port = 0;
  std::string method = "GET";
  std::string path = "/";
  std::string body;     // sent as application/json when not empty (or for POST)
  std::string ca_file;  // non-empty: https, the server's certificate checked against it
  std::chrono::milliseconds timeout{5000};
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string error;  // connection, TLS or protocol failure; status is 0 then
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  std::string describe() const;  // "HTTP 503: ..." or the error
};

HttpResponse http_request(const HttpRequest& req);

}  // namespace e2e
