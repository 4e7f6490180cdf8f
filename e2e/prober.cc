#include "prober.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "sys.h"

namespace e2e {

namespace {

struct Address {
  sockaddr_storage ss{};
  socklen_t len = 0;
};

bool make_address(const std::string& ip, int port, Address& a) {
  if (ip.find(':') != std::string::npos) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof(sockaddr_in6);
    return inet_pton(AF_INET6, ip.c_str(), &s6->sin6_addr) == 1;
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&a.ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(static_cast<uint16_t>(port));
  a.len = sizeof(sockaddr_in);
  return inet_pton(AF_INET, ip.c_str(), &s4->sin_addr) == 1;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

// Waits for `events` on fd; returns "" when ready, else why not (a timeout is a silent drop).
std::string wait_for(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  const int n = poll(&p, 1, static_cast<int>(timeout.count()));
  if (n == 0) return "timeout";
  if (n < 0) return errno_text("poll", errno);
  return "";
}

ProbeOutcome tcp_once(const Address& dst, const ProbeTask& t, std::chrono::milliseconds timeout) {
  Fd fd(socket(dst.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return {false, errno_text("socket", errno)};
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&dst.ss), dst.len) != 0 &&
      errno != EINPROGRESS)
    return {false, errno_text("connect", errno)};
  if (auto why = wait_for(fd.get(), POLLOUT, timeout); !why.empty())
    return {false, "connect " + why};
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return {false, errno_text("connect", err)};
  if (auto why = wait_for(fd.get(), POLLIN, timeout); !why.empty()) return {false, "reply " + why};
  char buf[256];
  const ssize_t n = read(fd.get(), buf, sizeof buf);
  if (n <= 0) return {false, n < 0 ? errno_text("read", errno) : "closed without reply"};
  std::string reply(buf, static_cast<size_t>(n));
  if (!reply.empty() && reply.back() == '\n') reply.pop_back();
  if (!t.expect_reply.empty() && reply != t.expect_reply)
    return {false, "answered by " + reply + ", not " + t.expect_reply};
  return {true, ""};
}

// Connected UDP socket, so an ICMP unreachable shows up as an error rather than a timeout.
ProbeOutcome udp_once(const Address& dst, std::chrono::milliseconds timeout, size_t seq) {
  Fd fd(socket(dst.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return {false, errno_text("socket", errno)};
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&dst.ss), dst.len) != 0)
    return {false, errno_text("connect", errno)};
  const std::string token = "npe2e-probe-" + std::to_string(seq);
  if (send(fd.get(), token.data(), token.size(), 0) < 0) return {false, errno_text("send", errno)};
  if (auto why = wait_for(fd.get(), POLLIN, timeout); !why.empty()) return {false, "echo " + why};
  char buf[256];
  const ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
  if (n < 0) return {false, errno_text("recv", errno)};
  if (std::string(buf, static_cast<size_t>(n)) != token) return {false, "wrong echo"};
  return {true, ""};
}

ProbeOutcome probe_once(const ProbeTask& t, std::chrono::milliseconds timeout, size_t seq) {
  Address dst;
  if (!make_address(t.dst_ip, t.port, dst)) return {false, "bad address " + t.dst_ip};
  if (t.protocol == "TCP") return tcp_once(dst, t, timeout);
  if (t.protocol == "UDP") return udp_once(dst, timeout, seq);
  return {false, "unsupported protocol " + t.protocol};
}

// One round: runs the tasks listed in `which` on a pool of threads, each setns()-ing into the
// client namespace of the task at hand.
void run_round(const std::vector<ProbeTask>& tasks, const std::vector<size_t>& which,
               std::vector<ProbeOutcome>& out, const ProberOptions& opt) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < which.size(); i = next++) {
      const ProbeTask& t = tasks[which[i]];
      try {
        enter_netns_thread(t.from_netns_fd);
        out[which[i]] = probe_once(t, opt.timeout, which[i]);
      } catch (const std::exception& e) {
        out[which[i]] = {false, e.what()};
      }
    }
  };
  std::vector<std::thread> pool;
  const size_t n = std::min(which.size(), std::max<size_t>(1, opt.max_threads));
  for (size_t i = 0; i < n; ++i) pool.emplace_back(worker);
  for (auto& th : pool) th.join();
}

}  // namespace

std::vector<ProbeOutcome> probe_all(const std::vector<ProbeTask>& tasks, const ProberOptions& opt) {
  std::vector<ProbeOutcome> out(tasks.size());
  std::vector<size_t> todo(tasks.size());
  for (size_t i = 0; i < todo.size(); ++i) todo[i] = i;
  for (int attempt = 0; attempt < opt.attempts && !todo.empty() && !interrupted(); ++attempt) {
    run_round(tasks, todo, out, opt);
    std::vector<size_t> failed;
    for (size_t i : todo) {
      if (!out[i].connected) failed.push_back(i);
    }
    todo = std::move(failed);
  }
  return out;
}

}  // namespace e2e
