// The server process of one e2e pod, started inside the pod's network namespace. It listens on
// the pod's declared TCP and UDP ports on every address of both families (one dual-stack socket
// per port), answers each TCP connection with the pod's name and echoes every UDP datagram.
// It also serves the long-lived flows of flow_protocol.h (ticker, push, echo) on their own
// ports, and prints their statistics to stderr on SIGUSR1.
// It prints "ready" once every socket is bound, so the harness never probes a half-started pod.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "flow_protocol.h"

namespace {

struct Listener {
  int fd;
  bool tcp;
};

// A v6 socket with IPV6_V6ONLY off takes v4 too; pods without IPv6 fall back to plain v4.
int bind_port(int port, bool tcp) {
  const int type = (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const int one = 1, zero = 0;
  int fd = socket(AF_INET6, type, 0);
  if (fd >= 0) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in6 a{.sin6_family = AF_INET6, .sin6_port = htons(static_cast<uint16_t>(port))};
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    close(fd);
  }
  fd = socket(AF_INET, type, 0);
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{.sin_family = AF_INET, .sin_port = htons(static_cast<uint16_t>(port))};
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void serve_tcp(int listen_fd, const std::string& reply) {
  for (;;) {
    const int c = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;  // EAGAIN: the backlog is drained
    // A blocking write of a few bytes into a fresh socket's empty buffer cannot stall.
    // MSG_NOSIGNAL: a client that gave up already must not kill the server with SIGPIPE.
    [[maybe_unused]] const ssize_t n = send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    close(c);
  }
}

void serve_udp(int fd) {
  char buf[2048];
  for (;;) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;
    sendto(fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
  }
}

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// "ip:port" of a peer; IPv4 peers of a dual-stack socket lose their "::ffff:" prefix.
std::string peer_name(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    port = ntohs(a->sin6_port);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    port = ntohs(a->sin_port);
  }
  std::string s = ip;
  if (s.rfind("::ffff:", 0) == 0 && s.find('.') != std::string::npos) s = s.substr(7);
  return s + ":" + std::to_string(port);
}

// One sender's sequence numbers as this receiver sees them.
struct SeqCheck {
  uint64_t count = 0, next = 0, gaps = 0, dups = 0;
  int64_t last_ns = 0, max_silence_ns = 0;
  void on(uint64_t seq, int64_t now) {
    if (count > 0) max_silence_ns = std::max(max_silence_ns, now - last_ns);
    ++count;
    last_ns = now;
    if (seq > next) ++gaps;
    if (seq < next) ++dups;
    next = std::max(next, seq + 1);
  }
};

// Parses "<tag> <seq>" lines out of `buf` (keeping a partial last line) into `rx`.
void take_lines(std::string& buf, char tag, SeqCheck& rx) {
  size_t start = 0;
  for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (nl - start > 2 && buf[start] == tag && buf[start + 1] == ' ')
      rx.on(std::strtoull(buf.c_str() + start + 2, nullptr, 10), now_ns());
  }
  buf.erase(0, start);
}

enum class Kind { ticker, push, echo, late };

const char* kind_name(Kind k) {
  static const char* names[] = {"ticker", "push", "echo", "late"};
  return names[static_cast<int>(k)];
}

struct FlowConn {
  int fd = -1;
  Kind kind = Kind::ticker;
  std::string peer;
  std::string in, out;  // partial line received; bytes not yet sent
  SeqCheck rx;
  uint64_t tx = 0;
  std::string state = "open";
};

struct UdpPeer {
  SeqCheck rx;
  uint64_t echoed = 0;
};

// A datagram the late echo sends back when it is due.
struct Pending {
  int64_t due_ns = 0;
  sockaddr_storage to{};
  socklen_t len = 0;
  std::string data;
  std::string peer;  // key of udp_
};

// The long-lived flows: TCP ticker and push connections, UDP echo peers, and their statistics.
class Flows {
 public:
  // Binds the flow ports (0: not served); false if one cannot be bound.
  bool open(const std::vector<int>& ports, int tick_ms, int late_ms);
  // The flow sockets to poll; handle() takes poll's results in the same order.
  void poll_set(std::vector<pollfd>& fds);
  void handle(const pollfd* fds);
  int timeout_ms() const;  // until the next tick or late echo
  void tick();             // on time: every open TCP flow sends its next message, late echoes
  void dump() const;       // the statistics, to stderr

 private:
  void accept_all(int fd, Kind kind);
  void read_conn(FlowConn& c);
  void flush(FlowConn& c);
  void close_conn(FlowConn& c, const std::string& state);
  void read_udp(Kind kind);
  void echo(int fd, const sockaddr_storage& to, socklen_t len, const std::string& data, UdpPeer& p);

  static constexpr size_t kPorts = 4;
  int listen_[kPorts] = {-1, -1, -1, -1};  // ticker, push (TCP), echo, late (UDP)
  int64_t tick_ns_ = 0, next_tick_ns_ = 0, late_ns_ = 0;
  std::deque<Pending> late_;
  std::vector<FlowConn> conns_;
  std::vector<size_t> polled_;  // conns_ indices, in poll_set order
  std::map<std::string, UdpPeer> udp_;
};

bool Flows::open(const std::vector<int>& ports, int tick_ms, int late_ms) {
  for (size_t i = 0; i < kPorts && i < ports.size(); ++i) {
    if (ports[i] <= 0) continue;
    const bool tcp = i < 2;
    listen_[i] = bind_port(ports[i], tcp);
    if (listen_[i] < 0 || (tcp && listen(listen_[i], 256) != 0)) {
      std::fprintf(stderr, "pod_server: flow port %d: %s\n", ports[i], std::strerror(errno));
      return false;
    }
  }
  tick_ns_ = static_cast<int64_t>(tick_ms) * 1000000;
  late_ns_ = static_cast<int64_t>(late_ms) * 1000000;
  next_tick_ns_ = now_ns() + tick_ns_;
  return true;
}

void Flows::poll_set(std::vector<pollfd>& fds) {
  for (int fd : listen_) fds.push_back({fd, POLLIN, 0});  // -1 entries are ignored by poll
  polled_.clear();
  for (size_t i = 0; i < conns_.size(); ++i) {
    if (conns_[i].fd < 0) continue;
    fds.push_back({conns_[i].fd, POLLIN, 0});
    polled_.push_back(i);
  }
}

void Flows::handle(const pollfd* fds) {
  // Connections first: accepting appends to conns_.
  for (size_t j = 0; j < polled_.size(); ++j) {
    if (fds[kPorts + j].revents & (POLLIN | POLLERR | POLLHUP)) read_conn(conns_[polled_[j]]);
  }
  if (fds[0].revents & POLLIN) accept_all(listen_[0], Kind::ticker);
  if (fds[1].revents & POLLIN) accept_all(listen_[1], Kind::push);
  if (fds[2].revents & POLLIN) read_udp(Kind::echo);
  if (fds[3].revents & POLLIN) read_udp(Kind::late);
}

int Flows::timeout_ms() const {
  const int64_t next =
      late_.empty() ? next_tick_ns_ : std::min(next_tick_ns_, late_.front().due_ns);
  return static_cast<int>(std::max<int64_t>(0, (next - now_ns() + 999999) / 1000000));
}

void Flows::accept_all(int fd, Kind kind) {
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int c = accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;
    conns_.push_back({.fd = c, .kind = kind, .peer = peer_name(ss)});
  }
}

void Flows::read_conn(FlowConn& c) {
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      take_lines(c.in, 'C', c.rx);
      continue;
    }
    if (n == 0) return close_conn(c, "fin");
    if (errno == EAGAIN || errno == EINTR) return;
    return close_conn(c, errno == ECONNRESET ? "rst" : "error-" + std::to_string(errno));
  }
}

void Flows::close_conn(FlowConn& c, const std::string& state) {
  close(c.fd);
  c.fd = -1;
  c.state = state;
}

// A message is queued only when the previous ones left: a cut connection neither loses
// sequence numbers nor grows its queue.
void Flows::tick() {
  const int64_t now = now_ns();
  for (; !late_.empty() && late_.front().due_ns <= now; late_.pop_front()) {
    const Pending& d = late_.front();
    echo(listen_[3], d.to, d.len, d.data, udp_[d.peer]);
  }
  if (now < next_tick_ns_) return;
  next_tick_ns_ = std::max(next_tick_ns_ + tick_ns_, now);  // late: no burst to catch up
  for (auto& c : conns_) {
    if (c.fd < 0) continue;
    if (c.out.empty())
      c.out = (c.kind == Kind::ticker ? "S " : "P ") + std::to_string(c.tx++) + "\n";
    flush(c);
  }
}

void Flows::flush(FlowConn& c) {
  const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n >= 0) {
    c.out.erase(0, static_cast<size_t>(n));
  } else if (errno != EAGAIN && errno != EINTR) {
    close_conn(c, errno == ECONNRESET || errno == EPIPE ? "rst" : "error-" + std::to_string(errno));
  }
}

// The echo answers at once; the late echo `late_ms` later, like a server that takes time to
// answer (a resolver asking upstream): its answers are in flight whenever a change lands.
void Flows::read_udp(Kind kind) {
  const int fd = listen_[kind == Kind::echo ? 2 : 3];
  char buf[2048];
  for (;;) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;
    const std::string key = std::string(kind_name(kind)) + " " + peer_name(from);
    UdpPeer& p = udp_[key];
    std::string data(buf, static_cast<size_t>(n)), line = data;
    take_lines(line, 'U', p.rx);
    if (kind == Kind::echo) {
      echo(fd, from, len, data, p);
    } else {
      late_.push_back({now_ns() + late_ns_, from, len, std::move(data), key});
    }
  }
}

void Flows::echo(int fd, const sockaddr_storage& to, socklen_t len, const std::string& data,
                 UdpPeer& p) {
  if (sendto(fd, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&to), len) ==
      static_cast<ssize_t>(data.size()))
    ++p.echoed;
}

void Flows::dump() const {
  auto line = [](const char* kind, const std::string& peer, const SeqCheck& rx, uint64_t tx,
                 const std::string& state) {
    std::fprintf(stderr,
                 "%skind=%s peer=%s rx=%" PRIu64 " gaps=%" PRIu64 " dups=%" PRIu64
                 " last_rx_ns=%" PRId64 " max_silence_ns=%" PRId64 " tx=%" PRIu64 " state=%s\n",
                 e2e::flow::kStatLine, kind, peer.c_str(), rx.count, rx.gaps, rx.dups, rx.last_ns,
                 rx.max_silence_ns, tx, state.c_str());
  };
  for (const auto& c : conns_) line(kind_name(c.kind), c.peer, c.rx, c.tx, c.state);
  for (const auto& [key, p] : udp_) {
    const auto space = key.find(' ');
    line(key.substr(0, space).c_str(), key.substr(space + 1), p.rx, p.echoed, "open");
  }
  std::fprintf(stderr, "%s flows=%zu\n", e2e::flow::kStatEnd, conns_.size() + udp_.size());
  std::fflush(stderr);
}

// SIGUSR1 as a file descriptor: the statistics are printed from the poll loop.
int usr1_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

// The pod's declared ports; false (with a message) when one cannot be bound.
bool bind_declared(const std::string& name, const std::vector<int>& tcp,
                   const std::vector<int>& udp, std::vector<Listener>& ls) {
  for (const auto& [ports, is_tcp] : {std::pair{&tcp, true}, std::pair{&udp, false}}) {
    for (int port : *ports) {
      const int fd = bind_port(port, is_tcp);
      if (fd < 0 || (is_tcp && listen(fd, 256) != 0)) {
        std::fprintf(stderr, "pod_server %s: %s port %d: %s\n", name.c_str(),
                     is_tcp ? "tcp" : "udp", port, std::strerror(errno));
        return false;
      }
      ls.push_back({fd, is_tcp});
    }
  }
  return true;
}

int serve(const std::vector<Listener>& ls, Flows& flows, int usr1, const std::string& reply) {
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    for (const auto& l : ls) fds.push_back({l.fd, POLLIN, 0});
    fds.push_back({usr1, POLLIN, 0});
    flows.poll_set(fds);
    if (poll(fds.data(), fds.size(), flows.timeout_ms()) < 0 && errno != EINTR) return 1;
    for (size_t i = 0; i < ls.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      if (ls[i].tcp) {
        serve_tcp(ls[i].fd, reply);
      } else {
        serve_udp(ls[i].fd);
      }
    }
    if (fds[ls.size()].revents & POLLIN) {
      signalfd_siginfo si;
      while (read(usr1, &si, sizeof si) == sizeof si) flows.dump();
    }
    flows.handle(&fds[ls.size() + 1]);
    flows.tick();
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"e2e pod server: answers TCP connects with the pod name, echoes UDP, serves flows"};
  std::string name = "pod";
  std::vector<int> tcp, udp;
  std::vector<int> flow_ports = {e2e::flow::kTickerPort, e2e::flow::kPushPort, e2e::flow::kEchoPort,
                                 e2e::flow::kLateEchoPort};
  int tick_ms = e2e::flow::kTickMs, late_ms = e2e::flow::kLateMs;
  app.add_option("--name", name, "Pod name sent as the TCP reply");
  app.add_option("--tcp", tcp, "TCP ports to serve")->delimiter(',');
  app.add_option("--udp", udp, "UDP ports to serve")->delimiter(',');
  app.add_option("--flow-ports", flow_ports,
                 "Long-lived flows: TICKER,PUSH (TCP),ECHO,LATE (UDP) ports; 0 turns one off")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--flow-tick-ms", tick_ms, "Milliseconds between two messages of a flow")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--flow-late-ms", late_ms, "Milliseconds the late echo waits before answering")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<Listener> ls;
  Flows flows;
  const int usr1 = usr1_fd();
  if (!bind_declared(name, tcp, udp, ls) || !flows.open(flow_ports, tick_ms, late_ms) || usr1 < 0)
    return 1;
  std::printf("ready\n");
  std::fflush(stdout);
  return serve(ls, flows, usr1, name + "\n");
}
