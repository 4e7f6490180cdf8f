// Janitor: hygiene of a run. Everything the harness creates is a network namespace named
// "npe2e-<pid>-...", a temp dir "/tmp/npe2e-<pid>-XXXXXX" or a child process; removing the
// namespaces removes every veth, bridge, route, nft table and conntrack entry inside them.
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "sys.h"

namespace e2e {
namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "npe2e-";

// Kills processes still inside a namespace (a pod server of a crashed run), then removes it.
void remove_netns(const std::string& name) {
  const RunResult pids = run({"ip", "netns", "pids", name});
  std::istringstream in(pids.out);
  for (pid_t pid; in >> pid;) kill(pid, SIGKILL);
  const RunResult r = run({"ip", "netns", "del", name});
  if (r.rc != 0 && fs::exists("/run/netns/" + name))
    std::fprintf(stderr, "npe2e: could not delete netns %s: %s", name.c_str(), r.err.c_str());
}

// "npe2e-1234-x-a" -> 1234; 0 if the name is not ours.
pid_t owner_pid(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return 0;
  try {
    return static_cast<pid_t>(std::stol(name.substr(std::strlen(kPrefix))));
  } catch (const std::exception&) {
    return 0;
  }
}

// A zombie (killed, not yet reaped) counts as dead: it owns nothing any more.
bool alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');  // the state follows "(comm)", which may hold spaces
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  return stat[paren + 2] != 'Z' && stat[paren + 2] != 'X';
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename());
  return out;
}

}  // namespace

Janitor::Janitor() : prefix_(kPrefix + std::to_string(getpid()) + "-") {
  std::string tmpl = "/tmp/" + prefix_ + "XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  tmpdir_ = tmpl;
}

Janitor::~Janitor() {
  cleanup();
}

std::string Janitor::add_netns(const std::string& name) {
  const std::string full = prefix_ + name;
  std::lock_guard<std::mutex> lock(mu_);
  if (done_) throw std::runtime_error("interrupted");
  netns_.insert(full);  // before creating it: a signal in between still removes it
  must_run({"ip", "netns", "add", full});
  return full;
}

void Janitor::delete_netns(const std::string& full_name) {
  std::lock_guard<std::mutex> lock(mu_);
  remove_netns(full_name);
  netns_.erase(full_name);
}

void Janitor::add_child(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  children_.insert(pid);
}

void Janitor::forget_child(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  children_.erase(pid);
}

void Janitor::cleanup() {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_) return;
  done_ = true;
  if (keep_) {
    std::fprintf(stderr,
                 "npe2e: --keep: leaving %zu namespaces (%s*) and %s; the next run or "
                 "`nftpolicy-e2e --cleanup` removes them\n",
                 netns_.size(), prefix_.c_str(), tmpdir_.c_str());
    return;
  }
  kill_running_children();
  for (pid_t pid : children_) kill(pid, SIGKILL);
  for (pid_t pid : children_) waitpid(pid, nullptr, 0);
  children_.clear();
  // Registered ones first, then anything with our prefix that a race left unregistered.
  for (const auto& n : netns_) remove_netns(n);
  netns_.clear();
  for (const auto& n : list_dir("/run/netns")) {
    if (n.rfind(prefix_, 0) == 0) remove_netns(n);
  }
  std::error_code ec;
  fs::remove_all(tmpdir_, ec);
}

void Janitor::sweep_stale() {
  for (const auto& n : list_dir("/run/netns")) {
    const pid_t pid = owner_pid(n);
    if (pid > 0 && pid != getpid() && !alive(pid)) {
      std::fprintf(stderr, "npe2e: removing leftover netns %s of dead run %d\n", n.c_str(), pid);
      remove_netns(n);
    }
  }
  for (const auto& n : list_dir("/tmp")) {
    const pid_t pid = owner_pid(n);
    if (pid > 0 && pid != getpid() && !alive(pid)) {
      std::error_code ec;
      fs::remove_all("/tmp/" + n, ec);
    }
  }
}

void Janitor::install_signal_thread() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // Detached on purpose: it lives as long as the process and ends it with _exit.
  std::thread([this, set] {
    int sig = 0;
    sigwait(&set, &sig);
    mark_interrupted();
    std::fprintf(stderr, "\nnpe2e: got signal %d, cleaning up\n", sig);
    cleanup();
    _exit(128 + sig);
  }).detach();
}

}  // namespace e2e
