#include "sys.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

extern char** environ;

namespace e2e {
namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupted{false};

// Children of run() are tracked so a signal can stop them (an agent or CNI call may hang).
std::mutex g_children_mu;
std::set<pid_t> g_children;

void track(pid_t pid, bool add) {
  std::lock_guard<std::mutex> lock(g_children_mu);
  if (add) {
    g_children.insert(pid);
  } else {
    g_children.erase(pid);
  }
}

std::vector<std::string> merged_env(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    if (extra.count(kv.substr(0, kv.find('='))) == 0) out.push_back(kv);
  }
  for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Feeds stdin and drains stdout/stderr together, so neither side can fill a pipe and stall.
bool pump(int in_fd, int out_fd, int err_fd, const std::string& input, RunResult& r,
          std::chrono::steady_clock::time_point deadline) {
  size_t written = 0;
  if (input.empty()) close(in_fd), in_fd = -1;
  while (out_fd >= 0 || err_fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd fds[3] = {{in_fd, POLLOUT, 0}, {out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    if (poll(fds, 3, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
    if (in_fd >= 0 && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = write(in_fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == input.size()) close(in_fd), in_fd = -1;
    }
    for (int i = 1; i <= 2; ++i) {
      int& fd = i == 1 ? out_fd : err_fd;
      if (fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        (i == 1 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else {
        close(fd), fd = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  return true;
}

}  // namespace

bool interrupted() {
  return g_interrupted.load();
}
void mark_interrupted() {
  g_interrupted = true;
}

void kill_running_children() {
  std::lock_guard<std::mutex> lock(g_children_mu);
  for (pid_t pid : g_children) kill(pid, SIGKILL);
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

void reset_child_signals() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
}

RunResult run(const std::vector<std::string>& argv, const RunOptions& opt) {
  RunResult r;
  std::vector<std::string> args = argv, env = merged_env(opt.env);
  std::vector<char*> cargs = c_strings(args), cenv = c_strings(env);
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    r.err = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    reset_child_signals();
    dup2(in[0], 0), dup2(out[1], 1), dup2(err[1], 2);
    execvpe(cargs[0], cargs.data(), cenv.data());
    _exit(127);
  }
  close(in[0]), close(out[1]), close(err[1]);
  if (pid < 0) {
    close(in[1]), close(out[0]), close(err[0]);
    r.err = std::string("fork: ") + std::strerror(errno);
    return r;
  }
  track(pid, true);
  const auto deadline = std::chrono::steady_clock::now() + opt.timeout;
  if (!pump(in[1], out[0], err[0], opt.input, r, deadline)) {
    r.timed_out = true;
    kill(pid, SIGKILL);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  track(pid, false);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string must_run(const std::vector<std::string>& argv, const RunOptions& opt) {
  RunResult r = run(argv, opt);
  if (r.rc != 0) {
    throw std::runtime_error(join(argv, " ") + " failed (rc=" + std::to_string(r.rc) +
                             (r.timed_out ? ", timed out" : "") + "): " + r.err + r.out);
  }
  return r.out;
}

std::vector<std::string> in_netns(const std::string& netns, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"ip", "netns", "exec", netns});
  return argv;
}

Spawned spawn(const SpawnOptions& opt) {
  std::vector<std::string> args = opt.argv;
  std::vector<char*> cargs = c_strings(args);
  int out[2] = {-1, -1};
  if (opt.pipe_stdout && pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int log_fd = open(opt.log.empty() ? "/dev/null" : opt.log.c_str(),
                          O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    reset_child_signals();
    if (opt.die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent))
      _exit(126);
    if (opt.netns_fd >= 0 && setns(opt.netns_fd, CLONE_NEWNET) != 0) _exit(125);
    dup2(null_fd, 0), dup2(opt.pipe_stdout ? out[1] : log_fd, 1), dup2(log_fd, 2);
    execvp(cargs[0], cargs.data());
    _exit(127);
  }
  close(null_fd), close(log_fd);
  if (opt.pipe_stdout) close(out[1]);
  if (pid < 0) {
    if (opt.pipe_stdout) close(out[0]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  return {.pid = pid, .stdout_fd = out[0]};
}

int stop_child(pid_t pid, int sig, std::chrono::milliseconds grace) {
  if (pid <= 0) return -1;
  kill(pid, sig);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool read_line(int fd, std::string& line, std::chrono::milliseconds timeout) {
  line.clear();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (char ch = 0; ch != '\n';) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    if (read(fd, &ch, 1) != 1) return false;
    if (ch != '\n') line.push_back(ch);
  }
  return true;
}

std::string tail_file(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  const size_t from = all.size() > lines ? all.size() - lines : 0;
  std::string out;
  for (size_t i = from; i < all.size(); ++i) out += "    | " + all[i] + "\n";
  return out;
}

int open_netns(const std::string& full_name) {
  const std::string path = "/run/netns/" + full_name;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  return fd;
}

void enter_netns_thread(int netns_fd) {
  if (setns(netns_fd, CLONE_NEWNET) != 0)
    throw std::runtime_error(std::string("setns: ") + std::strerror(errno));
}

std::string missing_prerequisite(const std::string& cni_bin,
                                 const std::vector<std::string>& tools) {
  if (geteuid() != 0) return "needs root (network namespaces, nftables)";
  for (const char* plugin : {"bridge", "host-local"}) {
    if (access((cni_bin + "/" + plugin).c_str(), X_OK) != 0)
      return cni_bin + "/" + plugin + " missing: apt-get install containernetworking-plugins";
  }
  if (!fs::exists("/proc/sys/net/bridge")) run({"modprobe", "br_netfilter"});
  if (!fs::exists("/proc/sys/net/bridge")) return "br_netfilter is not available in this kernel";
  for (const std::string& tool : tools) {
    if (run({"sh", "-c", "command -v \"$0\" >/dev/null", tool}).rc != 0)
      return tool + " is not installed (needed: " + join(tools, ", ") + ")";
  }
  return "";
}

std::string log_field(const std::string& line, const std::string& key) {
  const auto at = line.find(" " + key + "=");
  if (at == std::string::npos) return "";
  const auto from = at + key.size() + 2;
  return line.substr(from, line.find(' ', from) - from);
}

}  // namespace e2e
