#include "latency_procs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace bench {
namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int) {
  g_interrupted = true;
}

}  // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: blocking calls of the main thread return EINTR
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool interrupted() {
  return g_interrupted;
}

void check_interrupted() {
  if (g_interrupted) throw Interrupted();
}

void block_signals_in_this_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void sleep_until(Clock::time_point t) {
  for (auto now = Clock::now(); now < t; now = Clock::now()) {
    check_interrupted();
    std::this_thread::sleep_for(std::min<Clock::duration>(t - now, std::chrono::milliseconds(20)));
  }
  check_interrupted();
}

void run(const std::string& command) {
  check_interrupted();
  const int rc = std::system(command.c_str());
  if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + command);
}

// --- Netns

Netns::Netns(std::string name) : name_(std::move(name)) {
  run("ip netns add " + name_);
  try {
    run("ip -n " + name_ + " link set lo up");
  } catch (...) {
    (void)std::system(("ip netns del " + name_ + " 2>/dev/null").c_str());
    throw;
  }
}

Netns::~Netns() {
  leave();
  (void)std::system(("ip netns del " + name_ + " 2>/dev/null").c_str());
}

void Netns::enter() {
  original_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const int fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
  const bool ok = original_ >= 0 && fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok) throw std::runtime_error("cannot enter network namespace " + name_);
}

void Netns::leave() {
  if (original_ < 0) return;
  (void)::setns(original_, CLONE_NEWNET);
  ::close(original_);
  original_ = -1;
}

// --- Child

Child::Child(const std::vector<std::string>& argv, bool pipe_stdout, bool pipe_stderr,
             const std::string& stderr_file) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  if (pipe_stdout && ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  if (pipe_stderr && ::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  const int file = stderr_file.empty() ? -1
                                       : ::open(stderr_file.c_str(),
                                                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  started_ = Clock::now();
  pid_ = ::fork();
  if (pid_ == 0) {
    // Async-signal-safe calls only until exec.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (pipe_stdout) ::dup2(out[1], 1);
    if (pipe_stderr) ::dup2(err[1], 2);
    if (!pipe_stderr && file >= 0) ::dup2(file, 2);
    ::execv(args[0], args.data());
    _exit(127);
  }
  if (file >= 0) ::close(file);
  if (pipe_stdout) ::close(out[1]);
  if (pipe_stderr) ::close(err[1]);
  if (pid_ < 0) throw std::runtime_error("fork failed");
  out_ = out[0];
  err_ = err[0];
}

Child::~Child() {
  stop(std::chrono::milliseconds(2000));
  if (out_ >= 0) ::close(out_);
  if (err_ >= 0) ::close(err_);
}

bool Child::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int Child::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return 0;
  ::kill(-pid_, SIGTERM);
  const auto deadline = Clock::now() + grace;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) break;
    if (Clock::now() > deadline) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(-pid_, SIGKILL);  // anything left in its group
  pid_ = -1;
  return status;
}

std::string read_first_line(int fd, std::chrono::milliseconds timeout) {
  std::string line;
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    check_interrupted();
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char c;
    const ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) break;
    if (c == '\n') return line;
    line += c;
  }
  throw std::runtime_error("no line within the timeout (read so far: '" + line + "')");
}

// --- AgentLog

double LogLine::number(const std::string& key, double fallback) const {
  const auto it = fields.find(key);
  return it == fields.end() ? fallback : std::strtod(it->second.c_str(), nullptr);
}

AgentLog::AgentLog(int fd, const std::string& copy_path)
    : thread_([this, fd, copy_path] { run(fd, copy_path); }) {}

AgentLog::~AgentLog() {
  thread_.join();  // ends at EOF: the child is stopped before
}

void AgentLog::run(int fd, std::string copy_path) {
  block_signals_in_this_thread();
  std::ofstream copy(copy_path);
  std::string pending;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    const auto at = Clock::now();
    pending.append(buf, static_cast<std::size_t>(n));
    for (auto eol = pending.find('\n'); eol != std::string::npos; eol = pending.find('\n')) {
      LogLine line{.at = at, .text = pending.substr(0, eol)};
      pending.erase(0, eol + 1);
      copy << line.text << '\n';
      // "2026-01-02T03:04:05.678 I agent: sync node=..." (spdlog's pattern, agent/logging.cc)
      const char level = line.text.size() > 24 ? line.text[24] : '?';
      if (level == 'E' || level == 'W' || level == 'C') {
        std::fprintf(stderr, "  agent: %s\n", line.text.c_str());
        if (level != 'W') ++errors_;
      }
      if (line.text.find("first list complete") != std::string::npos) {
        std::lock_guard lock(mu_);
        listed_ = at;
      }
      const auto sync = line.text.find(": sync node=");
      if (sync == std::string::npos) continue;
      std::istringstream tokens(line.text.substr(sync + 7));
      for (std::string t; tokens >> t;) {
        const auto eq = t.find('=');
        if (eq != std::string::npos) line.fields[t.substr(0, eq)] = t.substr(eq + 1);
      }
      {
        std::lock_guard lock(mu_);
        syncs_.push_back(std::move(line));
      }
      cv_.notify_all();
    }
    copy.flush();
  }
}

std::optional<LogLine> AgentLog::next_sync(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  while (syncs_.empty()) {
    if (interrupted()) throw Interrupted();
    const auto step = std::min(deadline, Clock::now() + std::chrono::milliseconds(50));
    cv_.wait_until(lock, step);
    if (Clock::now() >= deadline && syncs_.empty()) return std::nullopt;
  }
  LogLine l = std::move(syncs_.front());
  syncs_.pop_front();
  return l;
}

void AgentLog::clear() {
  std::lock_guard lock(mu_);
  syncs_.clear();
}

std::optional<Clock::time_point> AgentLog::listed() const {
  std::lock_guard lock(mu_);
  return listed_;
}

// --- /proc

ProcCpu proc_cpu(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto paren = all.rfind(')');
  if (paren == std::string::npos) return {};
  std::istringstream rest(all.substr(paren + 2));
  std::vector<std::string> v;
  for (std::string t; rest >> t;) v.push_back(t);
  if (v.size() < 13) return {};
  // After "pid (comm) ": state is field 3, utime 14, stime 15.
  const double ticks = std::stod(v[11]) + std::stod(v[12]);
  return {.seconds = ticks / static_cast<double>(::sysconf(_SC_CLK_TCK))};
}

ProcMemory proc_memory(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  ProcMemory m;
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmRSS:", 0) == 0) m.rss_kb = std::atol(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) m.hwm_kb = std::atol(line.c_str() + 6);
  }
  return m;
}

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("no free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(sa.sin_port);
}

}  // namespace bench
