#include "latency_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

namespace bench {
namespace {

std::string mac(int kind, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "02:00:00:00:%02x:%02x", kind, index);
  return buf;
}

void enter_netns(const std::string& name) {
  const int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  const bool ok = fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok) std::fprintf(stderr, "  cannot enter network namespace %s\n", name.c_str());
}

sockaddr_in address(const common::IpAddr& ip, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  std::memcpy(&sa.sin_addr, ip.bytes.data(), 4);
  return sa;
}

}  // namespace

PodNet::PodNet(const std::string& node_ns, const std::string& name, const common::IpAddr& ip,
               int index)
    : ns_(name), node_ns_(node_ns), host_if_("hv" + std::to_string(index)) {
  const std::string& host_if = host_if_;
  const std::string n = "ip -n " + name + " ", node = "ip -n " + node_ns + " ";
  const std::string addr = ip.str();
  run(node + "link add " + host_if + " address " + mac(1, index) + " type veth peer name eth0 " +
      "address " + mac(2, index) + " netns " + name);
  run(n + "addr add " + addr + "/32 dev eth0");
  run(n + "link set eth0 up");
  run(n + "route add 169.254.1.1 dev eth0 scope link");
  run(n + "route add default via 169.254.1.1 dev eth0");
  run(n + "neigh add 169.254.1.1 dev eth0 lladdr " + mac(1, index) + " nud permanent");
  run(node + "link set " + host_if + " up");
  run(node + "route add " + addr + "/32 dev " + host_if + " scope link");
  run(node + "neigh add " + addr + " dev " + host_if + " lladdr " + mac(2, index) +
      " nud permanent");
}

PodNet::~PodNet() {
  (void)std::system(("ip -n " + node_ns_ + " link del " + host_if_ + " 2>/dev/null").c_str());
}

void enable_forwarding(const std::string& node_ns) {
  run("ip netns exec " + node_ns +
      " sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
      "net.ipv4.conf.default.rp_filter=0");
}

Prober::Prober(const std::string& client_ns, const std::string& server_ns, common::IpAddr server_ip,
               std::uint16_t port, ProberOptions options)
    : server_ip_(server_ip), port_(port), options_(options) {
  server_ = std::thread([this, server_ns, port] { serve(server_ns, port); });
  prober_ = std::thread([this, client_ns] { probe(client_ns); });
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(5), [this] { return listening_; });
}

Prober::~Prober() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    armed_ = false;
  }
  cv_.notify_all();
  server_.join();
  prober_.join();
}

void Prober::serve(const std::string& server_ns, std::uint16_t port) {
  block_signals_in_this_thread();
  enter_netns(server_ns);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 4096) != 0) {
    std::perror("  probe server");
  }
  {
    std::lock_guard lock(mu_);
    listening_ = true;
  }
  cv_.notify_all();
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  while (!stop_) {
    if (::poll(&p, 1, 50) <= 0) continue;
    for (int c; (c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) ::close(c);
  }
  ::close(fd);
}

void Prober::probe(const std::string& client_ns) {
  block_signals_in_this_thread();
  enter_netns(client_ns);
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait(lock, [this] { return armed_ || stop_; });
    if (stop_) break;
    const int epoch = epoch_;
    lock.unlock();
    probe_armed(epoch);
    lock.lock();
  }
}

// Probes until disarmed: a connection every interval, each settled by its answer or timeout.
void Prober::probe_armed(int epoch) {
  struct Pending {
    std::size_t index;
    Clock::time_point deadline;
  };
  std::map<int, Pending> pending;  // by socket
  const sockaddr_in to = address(server_ip_, port_);
  auto settle = [&](int fd, bool allowed) {
    std::lock_guard lock(mu_);
    if (epoch_ == epoch) {
      results_[pending[fd].index].done = true;
      results_[pending[fd].index].allowed = allowed;
    }
    ::close(fd);
    pending.erase(fd);
  };
  auto next_launch = Clock::now();
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (!armed_ || stop_ || epoch_ != epoch) break;
    }
    auto now = Clock::now();
    if (now >= next_launch) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      const linger lg{.l_onoff = 1, .l_linger = 0};  // close with RST: no TIME_WAIT pile-up
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      std::size_t index;
      {
        std::lock_guard lock(mu_);
        if (!armed_ || epoch_ != epoch) {  // re-armed meanwhile: this loop is over
          ::close(fd);
          break;
        }
        index = results_.size();
        results_.push_back({.sent = Clock::now()});
      }
      ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to);
      pending[fd] = {index, now + options_.timeout};
      next_launch = std::max(next_launch + options_.interval, now);
    }
    std::vector<pollfd> fds;
    auto wake = next_launch;
    for (const auto& [fd, p] : pending) {
      fds.push_back({.fd = fd, .events = POLLOUT, .revents = 0});
      wake = std::min(wake, p.deadline);
    }
    now = Clock::now();
    const auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::max<Clock::duration>(wake - now, Clock::duration::zero()));
    timespec ts{.tv_sec = 0,
                .tv_nsec = static_cast<long>(std::min<long long>(wait.count(), 50'000'000))};
    ::ppoll(fds.data(), fds.size(), &ts, nullptr);
    for (const auto& p : fds) {
      if (!p.revents) continue;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == ECONNREFUSED) ++refused_;
      settle(p.fd, err == 0 || err == ECONNREFUSED);
    }
    now = Clock::now();
    for (auto it = pending.begin(); it != pending.end();) {
      const int fd = it->first;
      ++it;
      if (pending[fd].deadline <= now) settle(fd, false);
    }
  }
  for (const auto& [fd, p] : pending) ::close(fd);
}

void Prober::arm() {
  {
    std::lock_guard lock(mu_);
    results_.clear();
    ++epoch_;
    armed_ = true;
  }
  cv_.notify_all();
}

bool Prober::wait_settled(bool allowed, std::size_t k, Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    check_interrupted();
    {
      std::lock_guard lock(mu_);
      std::size_t run = 0;
      for (const auto& r : results_) {
        if (!r.done) break;
        run = r.allowed == allowed ? run + 1 : 0;
      }
      if (run >= k) return true;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  return false;
}

std::vector<ProbeResult> Prober::disarm() {
  std::lock_guard lock(mu_);
  armed_ = false;
  return results_;
}

std::optional<Clock::time_point> Prober::verdict_since(const std::vector<ProbeResult>& probes,
                                                       bool allowed) {
  std::optional<Clock::time_point> since;
  for (const auto& r : probes) {
    if (!r.done) break;
    if (r.allowed != allowed) {
      since.reset();
    } else if (!since) {
      since = r.sent;
    }
  }
  return since;
}

}  // namespace bench
