#include "latency_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "latency_procs.h"

namespace bench {
namespace {

std::runtime_error fail(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

HttpConnection::HttpConnection(const std::string& url) {
  std::string hostport = url;
  if (hostport.rfind("http://", 0) == 0) hostport = hostport.substr(7);
  while (!hostport.empty() && (hostport.back() == '/' || hostport.back() == '\n')) {
    hostport.pop_back();
  }
  const auto colon = hostport.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("bad url " + url);
  host_ = hostport;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::stoi(hostport.substr(colon + 1))));
  if (::inet_pton(AF_INET, hostport.substr(0, colon).c_str(), &sa.sin_addr) != 1) {
    throw std::runtime_error("bad address in " + url);
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw fail("socket");
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    const auto e = fail("connect " + url);
    ::close(fd_);
    fd_ = -1;
    throw e;
  }
}

HttpConnection::~HttpConnection() {
  if (fd_ >= 0) ::close(fd_);
}

std::string HttpConnection::format(std::string_view method, std::string_view path,
                                   std::string_view body, std::string_view content_type) {
  std::string r;
  r.reserve(160 + path.size() + body.size());
  r.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: bench\r\n");
  r.append("Accept: application/json\r\nConnection: keep-alive\r\n");
  if (!body.empty()) r.append("Content-Type: ").append(content_type).append("\r\n");
  r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  r.append(body);
  return r;
}

void HttpConnection::write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      check_interrupted();
      continue;
    }
    if (n <= 0) throw fail("send to " + host_);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void HttpConnection::fill() {
  if (pos_ > 0 && pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) {
      check_interrupted();
      continue;
    }
    if (n < 0) throw fail("recv from " + host_);
    if (n == 0) throw std::runtime_error("connection to " + host_ + " closed");
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return;
  }
}

std::string HttpConnection::read_line() {
  for (;;) {
    const auto eol = buffer_.find("\r\n", pos_);
    if (eol != std::string::npos) {
      std::string line = buffer_.substr(pos_, eol - pos_);
      pos_ = eol + 2;
      return line;
    }
    fill();
  }
}

HttpResponse HttpConnection::read_response() {
  HttpResponse r;
  const std::string status = read_line();
  if (status.size() < 12 || status.rfind("HTTP/1.", 0) != 0) {
    throw std::runtime_error("bad status line from " + host_ + ": " + status);
  }
  r.status = std::atoi(status.c_str() + 9);
  std::size_t length = 0;
  bool chunked = false;
  for (std::string h = read_line(); !h.empty(); h = read_line()) {
    std::string lower = h;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.rfind("content-length:", 0) == 0) length = std::stoul(h.substr(15));
    if (lower.rfind("transfer-encoding:", 0) == 0 && lower.find("chunked") != std::string::npos) {
      chunked = true;
    }
  }
  auto take = [this](std::size_t n, std::string& out) {
    while (buffer_.size() - pos_ < n) fill();
    out.append(buffer_, pos_, n);
    pos_ += n;
  };
  if (!chunked) {
    take(length, r.body);
    return r;
  }
  for (;;) {
    const std::size_t n = std::stoul(read_line(), nullptr, 16);
    if (n == 0) {
      while (!read_line().empty()) {
      }
      return r;
    }
    take(n, r.body);
    read_line();
  }
}

HttpResponse HttpConnection::exchange(std::string_view bytes) {
  write(bytes);
  return read_response();
}

HttpResponse HttpConnection::request(std::string_view method, std::string_view path,
                                     std::string_view body, std::string_view content_type) {
  write(format(method, path, body, content_type));
  return read_response();
}

std::size_t pipeline(HttpConnection& conn, const std::vector<std::string>& requests,
                     std::size_t window) {
  std::size_t failures = 0;
  for (std::size_t i = 0; i < requests.size(); i += window) {
    const std::size_t end = std::min(requests.size(), i + window);
    std::string bytes;
    for (std::size_t j = i; j < end; ++j) bytes += requests[j];
    conn.write(bytes);
    for (std::size_t j = i; j < end; ++j) {
      const auto r = conn.read_response();
      if (r.status / 100 != 2 && failures++ < 3) {
        std::fprintf(stderr, "  request %zu answered %d: %.200s\n", j, r.status, r.body.c_str());
      }
    }
  }
  return failures;
}

}  // namespace bench
