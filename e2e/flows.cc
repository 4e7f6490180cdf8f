#include "flows.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "flow_protocol.h"
#include "sys.h"

namespace e2e {

namespace {

using namespace std::chrono_literals;

std::string errno_text(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

bool make_address(const std::string& ip, int port, sockaddr_storage& ss, socklen_t& len) {
  ss = {};
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(static_cast<uint16_t>(port));
  len = sizeof(sockaddr_in);
  return inet_pton(AF_INET, ip.c_str(), &s4->sin_addr) == 1;
}

std::string local_name(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "?";
  char ip[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

// The tag of the messages a client of this kind receives.
char received_tag(FlowKind k) {
  return k == FlowKind::tcp_both ? 'S' : k == FlowKind::tcp_push ? 'P' : 'U';
}

constexpr const char* kNames[] = {"tcp-both", "tcp-push", "udp-echo", "udp-late"};
constexpr const char* kServerKinds[] = {"ticker", "push", "echo", "late"};
constexpr int kPorts[] = {flow::kTickerPort, flow::kPushPort, flow::kEchoPort, flow::kLateEchoPort};

struct Receiver {
  FlowRecord& rec;
  TimePoint started;
  uint64_t expected = 0;
  std::string partial;  // TCP: a line not complete yet

  void on_message(uint64_t seq) {
    const TimePoint now = FlowClock::now();
    rec.received.push_back(now);
    if (seq != expected && rec.first_anomaly.empty()) {
      rec.first_anomaly = "expected " + std::to_string(expected) + ", got " + std::to_string(seq) +
                          " at +" + std::to_string(seconds(started, now)) + " s";
    }
    if (seq > expected) ++rec.gaps;
    if (seq < expected) ++rec.dups;
    expected = std::max(expected, seq + 1);
  }
  void take_lines(std::string& buf, char tag) {
    size_t start = 0;
    for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (nl - start > 2 && buf[start] == tag && buf[start + 1] == ' ')
        on_message(std::strtoull(buf.c_str() + start + 2, nullptr, 10));
    }
    buf.erase(0, start);
  }
};

// Reads what is there; false when the flow ended (recorded in rec.end).
bool receive(int fd, FlowKind kind, Receiver& r) {
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (is_udp(kind)) {
        std::string line(buf, static_cast<size_t>(n));
        r.take_lines(line, 'U');
      } else {
        r.partial.append(buf, static_cast<size_t>(n));
        r.take_lines(r.partial, received_tag(kind));
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (is_udp(kind)) {  // an ICMP error: the flow goes on
      ++r.rec.send_errors;
      return true;
    }
    r.rec.end = n == 0 ? "fin" : errno == ECONNRESET ? "rst" : errno_text("recv", errno);
    r.rec.ended = FlowClock::now();
    return false;
  }
}

}  // namespace

bool is_udp(FlowKind k) {
  return k == FlowKind::udp_echo || k == FlowKind::udp_late;
}

const char* to_string(FlowKind k) {
  return kNames[static_cast<int>(k)];
}

int flow_port(FlowKind k) {
  return kPorts[static_cast<int>(k)];
}

const char* server_kind(FlowKind k) {
  return kServerKinds[static_cast<int>(k)];
}

std::string FlowSpec::label() const {
  return from + " -> " + to + " " + to_string(kind) +
         (same_node ? " (same node)" : " (cross-node)");
}

FlowRunner::~FlowRunner() {
  stop();
}

size_t FlowRunner::add(FlowSpec spec) {
  flows_.push_back(std::make_unique<Flow>(Flow{.spec = std::move(spec)}));
  return flows_.size() - 1;
}

void FlowRunner::start() {
  started_ = FlowClock::now();
  for (auto& f : flows_) threads_.emplace_back([this, p = f.get()] { run(*p); });
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, opt_.connect_timeout + 1s, [&] {
    return std::all_of(flows_.begin(), flows_.end(), [](const auto& f) { return f->settled; });
  });
}

void FlowRunner::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void FlowRunner::settle(Flow& f) {
  std::lock_guard lock(mu_);
  f.settled = true;
  cv_.notify_all();
}

void FlowRunner::run(Flow& f) {
  int fd = -1;
  try {
    enter_netns_thread(f.spec.from_netns_fd);
    if (connect_flow(f, fd)) {
      settle(f);
      loop(f, fd);
    }
  } catch (const std::exception& e) {
    f.rec.connect_error = e.what();
  }
  settle(f);
  if (fd >= 0) close(fd);
}

bool FlowRunner::connect_flow(Flow& f, int& fd) {
  sockaddr_storage dst{};
  socklen_t len = 0;
  if (!make_address(f.spec.dst_ip, flow_port(f.spec.kind), dst, len)) {
    f.rec.connect_error = "bad address " + f.spec.dst_ip;
    return false;
  }
  const bool udp = is_udp(f.spec.kind);
  fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    f.rec.connect_error = errno_text("socket", errno);
    return false;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&dst), len) != 0 && errno != EINPROGRESS) {
    f.rec.connect_error = errno_text("connect", errno);
    return false;
  }
  if (!udp) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, static_cast<int>(opt_.connect_timeout.count())) != 1) {
      f.rec.connect_error = "connect timeout";
      return false;
    }
    int err = 0;
    socklen_t elen = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) {
      f.rec.connect_error = errno_text("connect", err);
      return false;
    }
  }
  f.rec.local = local_name(fd);
  return true;
}

// One message per tick where the kind sends (TCP: the next one is queued once the previous one
// left, so a cut flow loses no sequence number), and everything received, until stop().
void FlowRunner::loop(Flow& f, int fd) {
  const FlowKind kind = f.spec.kind;
  const bool sends = kind != FlowKind::tcp_push, udp = is_udp(kind);
  Receiver r{.rec = f.rec, .started = started_};
  std::string out;
  TimePoint next_tick = FlowClock::now();
  while (!stop_) {
    const TimePoint now = FlowClock::now();
    if (sends && now >= next_tick) {
      next_tick = std::max(next_tick + opt_.tick, now);
      if (out.empty() || udp) {
        out = (udp ? "U " : "C ") + std::to_string(f.rec.sent.size()) + "\n";
        f.rec.sent.push_back(now);
      }
      const ssize_t n = send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        out.erase(0, static_cast<size_t>(n));
      } else if (udp) {
        ++f.rec.send_errors;
      } else if (errno != EAGAIN && errno != EINTR) {
        f.rec.end = errno == ECONNRESET || errno == EPIPE ? "rst" : errno_text("send", errno);
        f.rec.ended = FlowClock::now();
        return;
      }
    }
    const auto wait = sends ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                  next_tick - FlowClock::now() + 999us)
                            : opt_.tick;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(0, wait.count()))) > 0 &&
        !receive(fd, kind, r))
      return;
  }
}

// ---- reading the records --------------------------------------------------------------------

double seconds(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

size_t received_between(const FlowRecord& r, TimePoint from, TimePoint to) {
  return static_cast<size_t>(std::count_if(r.received.begin(), r.received.end(),
                                           [&](TimePoint t) { return t > from && t <= to; }));
}

std::optional<TimePoint> last_received(const FlowRecord& r) {
  if (r.received.empty()) return std::nullopt;
  return r.received.back();
}

double longest_silence(const FlowRecord& r, TimePoint from, TimePoint to) {
  TimePoint prev = from;
  double longest = 0;
  for (TimePoint t : r.received) {
    if (t <= from) continue;
    if (t > to) break;
    longest = std::max(longest, seconds(prev, t));
    prev = t;
  }
  return std::max(longest, seconds(prev, to));
}

std::string stat_key(FlowKind k, const std::string& peer) {
  return std::string(server_kind(k)) + " " + peer;
}

namespace {

ServerFlowStat parse_stat(const std::string& line) {
  ServerFlowStat s;
  std::istringstream in(line.substr(std::strlen(flow::kStatLine)));
  for (std::string tok; in >> tok;) {
    const auto eq = tok.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = tok.substr(0, eq), v = tok.substr(eq + 1);
    const auto num = [&] { return std::strtoull(v.c_str(), nullptr, 10); };
    if (k == "kind") s.kind = v;
    if (k == "peer") s.peer = v;
    if (k == "state") s.state = v;
    if (k == "rx") s.rx = num();
    if (k == "gaps") s.gaps = num();
    if (k == "dups") s.dups = num();
    if (k == "tx") s.tx = num();
    if (k == "max_silence_ns") s.max_silence = static_cast<double>(num()) / 1e9;
    if (k == "last_rx_ns" && num() > 0)
      s.last_rx = TimePoint(std::chrono::duration_cast<FlowClock::duration>(
          std::chrono::nanoseconds(static_cast<int64_t>(num()))));
  }
  return s;
}

}  // namespace

ServerStats server_stats(pid_t server, const std::string& log) {
  std::error_code ec;
  const auto offset = std::filesystem::file_size(log, ec);
  if (ec || kill(server, SIGUSR1) != 0)
    throw std::runtime_error("cannot ask the pod server " + std::to_string(server) +
                             " for its statistics (" + log + ")");
  const auto deadline = FlowClock::now() + 3s;
  while (FlowClock::now() < deadline) {
    std::ifstream in(log);
    in.seekg(static_cast<std::streamoff>(offset));
    ServerStats out;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(flow::kStatEnd, 0) == 0) return out;
      if (line.rfind(flow::kStatLine, 0) != 0) continue;
      ServerFlowStat s = parse_stat(line);
      out[s.kind + " " + s.peer] = s;
    }
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("the pod server " + std::to_string(server) +
                           " printed no statistics to " + log);
}

std::string p50_max(std::vector<double> v) {
  if (v.empty()) return "none";
  std::sort(v.begin(), v.end());
  char buf[96];
  std::snprintf(buf, sizeof buf, "p50 %.3f s, max %.3f s (n=%zu)", v[(v.size() - 1) / 2], v.back(),
                v.size());
  return buf;
}

std::string format_ms(double secs) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f ms", secs * 1000);
  return buf;
}

std::string format_offset(double secs) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.3f s", secs);
  return buf;
}

}  // namespace e2e
