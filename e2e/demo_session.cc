#include "demo_session.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>

#include "sys.h"

namespace demo {

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(2);

sockaddr_in address(const std::string& ip, int port) {
  sockaddr_in a{.sin_family = AF_INET, .sin_port = htons(static_cast<uint16_t>(port))};
  if (ip.empty()) {
    a.sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) {
    throw std::runtime_error("not an IPv4 address: " + ip);
  }
  return a;
}

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// Splits complete lines off `buf`.
std::vector<std::string> take_lines(std::string& buf) {
  std::vector<std::string> out;
  for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
    out.push_back(buf.substr(0, nl));
    buf.erase(0, nl + 1);
  }
  return out;
}

void send_all(int fd, const std::string& s) {
  // A few bytes into a socket buffer that is nearly empty: never partial in practice.
  [[maybe_unused]] const ssize_t n = send(fd, s.data(), s.size(), MSG_NOSIGNAL);
}

}  // namespace

// --- LineServer

LineServer::LineServer(int netns_fd, int port, std::string greeting)
    : netns_fd_(netns_fd), port_(port), greeting_(std::move(greeting)) {}

LineServer::~LineServer() {
  stop();
}

void LineServer::start() {
  std::promise<std::string> bound;
  auto result = bound.get_future();
  thread_ = std::thread([this, &bound] { serve(bound); });
  if (const std::string err = result.get(); !err.empty()) {
    thread_.join();
    throw std::runtime_error("line server on port " + std::to_string(port_) + ": " + err);
  }
}

void LineServer::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void LineServer::serve(std::promise<std::string>& bound) {
  int lfd = -1;
  try {
    e2e::enter_netns_thread(netns_fd_);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const sockaddr_in a = address("", port_);
    if (lfd < 0 || bind(lfd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
        listen(lfd, 64) != 0)
      throw std::runtime_error(errno_text("bind/listen"));
  } catch (const std::exception& e) {
    if (lfd >= 0) close(lfd);
    bound.set_value(e.what());
    return;
  }
  bound.set_value("");
  std::map<int, std::string> clients;  // fd -> bytes of an unfinished line
  while (!stop_) {
    std::vector<pollfd> fds = {{lfd, POLLIN, 0}};
    for (const auto& [fd, buf] : clients) fds.push_back({fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), 100) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      for (int c; (c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
        send_all(c, greeting_ + "\n");
        clients[c];
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      char buf[1024];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        if (n < 0 && errno == EAGAIN) continue;
        close(fds[i].fd), clients.erase(fds[i].fd);
        continue;
      }
      std::string& pending = clients[fds[i].fd];
      pending.append(buf, static_cast<size_t>(n));
      for (const auto& line : take_lines(pending)) send_all(fds[i].fd, line + "\n");
    }
  }
  for (const auto& [fd, buf] : clients) close(fd);
  close(lfd);
}

// --- Session

Session::Session(int netns_fd, std::string ip, int port, std::chrono::milliseconds interval)
    : netns_fd_(netns_fd), ip_(std::move(ip)), port_(port), interval_(interval) {}

Session::~Session() {
  stop();
}

void Session::start() {
  std::promise<std::string> connected;
  auto result = connected.get_future();
  thread_ = std::thread([this, &connected] { run(connected); });
  if (const std::string err = result.get(); !err.empty()) {
    thread_.join();
    throw std::runtime_error("connection to " + ip_ + ":" + std::to_string(port_) + ": " + err);
  }
}

void Session::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<Session::Message> Session::messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

void Session::run(std::promise<std::string>& connected) {
  int fd = -1;
  try {
    e2e::enter_netns_thread(netns_fd_);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const sockaddr_in a = address(ip_, port_);
    if (fd < 0 ||
        (connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS))
      throw std::runtime_error(errno_text("connect"));
    pollfd p{fd, POLLIN, 0};  // the greeting: connected, and the server is the pod
    const int ms = static_cast<int>(std::chrono::milliseconds(kConnectTimeout).count());
    char buf[256];
    if (poll(&p, 1, ms) != 1 || read(fd, buf, sizeof buf) <= 0)
      throw std::runtime_error("no greeting within 2 s");
  } catch (const std::exception& e) {
    if (fd >= 0) close(fd);
    connected.set_value(e.what());
    return;
  }
  connected.set_value("");
  exchange(fd);
  close(fd);
}

// Sends "<n>\n" every interval; the server answers with the same line.
void Session::exchange(int fd) {
  std::string pending;
  auto next = Clock::now();
  while (!stop_) {
    if (Clock::now() >= next) {
      std::lock_guard<std::mutex> lock(mu_);
      send_all(fd, std::to_string(messages_.size()) + "\n");
      messages_.push_back({.sent = Clock::now()});
      next += interval_;
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, std::max<int>(1, static_cast<int>(wait.count()))) != 1) continue;
    char buf[1024];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) continue;
      return;  // closed or reset
    }
    pending.append(buf, static_cast<size_t>(n));
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& line : take_lines(pending)) {
      const size_t seq = std::strtoul(line.c_str(), nullptr, 10);
      if (seq < messages_.size() && !messages_[seq].answered)
        messages_[seq].answered = Clock::now();
    }
  }
}

size_t answered_since(const std::vector<Session::Message>& m, Clock::time_point from) {
  size_t n = 0;
  for (const auto& x : m) n += x.sent >= from && x.answered.has_value();
  return n;
}

size_t sent_since(const std::vector<Session::Message>& m, Clock::time_point from) {
  size_t n = 0;
  for (const auto& x : m) n += x.sent >= from;
  return n;
}

std::optional<Clock::time_point> first_unanswered(const std::vector<Session::Message>& m) {
  size_t i = m.size();
  while (i > 0 && !m[i - 1].answered) --i;
  if (i == m.size()) return std::nullopt;
  return m[i].sent;
}

}  // namespace demo
