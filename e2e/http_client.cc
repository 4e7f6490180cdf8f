#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>

#include "sys.h"

namespace e2e {

namespace {

using Clock = std::chrono::steady_clock;

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

std::string ssl_error(const char* what) {
  char buf[256] = "unknown";
  if (const unsigned long e = ERR_get_error(); e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return std::string(what) + ": " + buf;
}

// One connection: a socket with send/receive timeouts, optionally wrapped in TLS.
class Conn {
 public:
  ~Conn() {
    if (ssl_) SSL_shutdown(ssl_.get());
    if (fd_ >= 0) close(fd_);
  }

  std::string open(const HttpRequest& req) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        inet_pton(AF_INET, req.host.c_str(), &s4->sin_addr) == 1) {
      s4->sin_family = AF_INET, s4->sin_port = htons(static_cast<uint16_t>(req.port));
      len = sizeof *s4;
    } else if (auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
               inet_pton(AF_INET6, req.host.c_str(), &s6->sin6_addr) == 1) {
      s6->sin6_family = AF_INET6, s6->sin6_port = htons(static_cast<uint16_t>(req.port));
      len = sizeof *s6;
    } else {
      return "not an IP address: " + req.host;
    }
    fd_ = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return std::string("socket: ") + std::strerror(errno);
    timeval tv{.tv_sec = req.timeout.count() / 1000,
               .tv_usec = static_cast<suseconds_t>(req.timeout.count() % 1000 * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0)
      return std::string("connect: ") + std::strerror(errno);
    return req.ca_file.empty() ? "" : start_tls(req);
  }

  bool send_all(const std::string& data) {
    for (size_t off = 0; off < data.size();) {
      const ssize_t n = ssl_ ? SSL_write(ssl_.get(), data.data() + off, int(data.size() - off))
                             : write(fd_, data.data() + off, data.size() - off);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // >0 bytes, 0 end of stream, <0 error.
  ssize_t receive(char* buf, size_t len) {
    if (!ssl_) return read(fd_, buf, len);
    const int n = SSL_read(ssl_.get(), buf, static_cast<int>(len));
    if (n > 0) return n;
    return SSL_get_error(ssl_.get(), n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
  }

 private:
  std::string start_tls(const HttpRequest& req) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx_) return ssl_error("SSL_CTX_new");
    if (SSL_CTX_load_verify_locations(ctx_.get(), req.ca_file.c_str(), nullptr) != 1)
      return ssl_error(("CA " + req.ca_file).c_str());
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    ssl_.reset(SSL_new(ctx_.get()));
    if (!ssl_) return ssl_error("SSL_new");
    // The server certificate must name the address we connect to (a SAN IP entry).
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), req.host.c_str());
    SSL_set_fd(ssl_.get(), fd_);
    if (SSL_connect(ssl_.get()) != 1) return ssl_error("TLS handshake");
    return "";
  }

  int fd_ = -1;
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
};

// Decodes a chunked body; false while it is incomplete.
bool dechunk(const std::string& raw, std::string& out) {
  out.clear();
  for (size_t pos = 0;;) {
    const size_t eol = raw.find("\r\n", pos);
    if (eol == std::string::npos) return false;
    const size_t size = std::strtoul(raw.substr(pos, eol - pos).c_str(), nullptr, 16);
    if (size == 0) return true;
    if (raw.size() < eol + 2 + size + 2) return false;
    out.append(raw, eol + 2, size);
    pos = eol + 2 + size + 2;
  }
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Parses what was received so far; true when the response is complete.
bool parse(const std::string& raw, bool eof, HttpResponse& r) {
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  const std::string head = lower(raw.substr(0, head_end));
  r.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  const std::string body = raw.substr(head_end + 4);
  if (head.find("transfer-encoding: chunked") != std::string::npos) return dechunk(body, r.body);
  if (const size_t cl = head.find("content-length:"); cl != std::string::npos) {
    const size_t want = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
    r.body = body.substr(0, want);
    return body.size() >= want;
  }
  r.body = body;
  return eof;
}

HttpResponse exchange(const HttpRequest& req) {
  HttpResponse r;
  Conn conn;
  if (r.error = conn.open(req); !r.error.empty()) return r;
  std::string msg = req.method + " " + req.path + " HTTP/1.1\r\nHost: " + req.host + ":" +
                    std::to_string(req.port) + "\r\nConnection: close\r\nAccept: */*\r\n";
  if (!req.body.empty() || req.method == "POST") {
    msg += "Content-Type: application/json\r\nContent-Length: " + std::to_string(req.body.size()) +
           "\r\n";
  }
  if (!conn.send_all(msg + "\r\n" + req.body)) return {.error = "send failed"};
  std::string raw;
  const auto deadline = Clock::now() + req.timeout;
  char buf[16384];
  for (;;) {
    const ssize_t n = conn.receive(buf, sizeof buf);
    if (n > 0) raw.append(buf, static_cast<size_t>(n));
    if (parse(raw, n <= 0, r)) return r;
    if (n <= 0 || Clock::now() > deadline) {
      return {.error = n == 0 ? "connection closed before a complete response"
                              : "no complete response within the timeout"};
    }
  }
}

}  // namespace

std::string HttpResponse::describe() const {
  if (!error.empty()) return error;
  return "HTTP " + std::to_string(status) + ": " + body.substr(0, 300);
}

HttpResponse http_request(const HttpRequest& req) {
  HttpResponse out;
  std::thread([&] {
    try {
      if (req.netns_fd >= 0) enter_netns_thread(req.netns_fd);
      out = exchange(req);
    } catch (const std::exception& e) {
      out = {.error = e.what()};
    }
  }).join();
  return out;
}

}  // namespace e2e
