// Process, namespace and cleanup helpers of the e2e harness. Everything here runs as root and
// touches only network namespaces whose names start with the run's prefix ("npe2e-<pid>-").
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace e2e {

struct RunResult {
  int rc = -1;  // exit code, or 128+signal; -1 if it could not be started
  std::string out;
  std::string err;
  bool timed_out = false;
};

struct RunOptions {
  std::string input;                         // written to the child's stdin
  std::map<std::string, std::string> env;    // added to (or replacing in) our environment
  std::chrono::milliseconds timeout{30000};  // the child is killed after this
};

// Runs argv[0] (looked up in PATH) with argv, waits for it, collects stdout and stderr.
RunResult run(const std::vector<std::string>& argv, const RunOptions& opt = {});
// Like run(), but throws std::runtime_error with the command and its stderr on failure.
std::string must_run(const std::vector<std::string>& argv, const RunOptions& opt = {});
// `ip netns exec <netns> argv...` (how kubelet's CNI calls and the agent contract are run).
std::vector<std::string> in_netns(const std::string& netns, std::vector<std::string> argv);

std::string join(const std::vector<std::string>& v, const std::string& sep);
// The value of `key=` in a " key=value" log line ("" when absent).
std::string log_field(const std::string& line, const std::string& key);

// What a kernel run needs: root, the CNI bridge and host-local plugins in `cni_bin`, bridge
// netfilter (br_netfilter is loaded if need be: the only change outside the run's own
// namespaces; its sysctls are set per node namespace) and `tools` on the PATH. "" when all
// are there, else why not (the caller skips with it).
std::string missing_prerequisite(const std::string& cni_bin, const std::vector<std::string>& tools);

// In a forked child before exec: default signal mask and SIGPIPE. The signal thread's mask and
// the runner's ignored SIGPIPE would otherwise be inherited through exec.
void reset_child_signals();

// A long-running child (the stand-in, an agent): forked from the calling thread, which must
// be the main thread (PR_SET_PDEATHSIG fires when the forking thread exits), into a network
// namespace, stdin from /dev/null, stderr (and stdout unless piped) to a log file.
struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] looked up in PATH
  int netns_fd = -1;              // -1: stay in the runner's namespace
  std::string log;                // stderr (and stdout) go here, appended
  bool pipe_stdout = false;       // stdout to a pipe, returned as stdout_fd
  bool die_with_parent = true;
};
struct Spawned {
  pid_t pid = -1;
  int stdout_fd = -1;  // with pipe_stdout; the caller closes it
};
Spawned spawn(const SpawnOptions& opt);
// Sends `sig`, waits up to `grace` for the child to exit, then SIGKILLs it; returns its exit
// code (128+signal when killed). The caller removes it from the Janitor.
int stop_child(pid_t pid, int sig, std::chrono::milliseconds grace);
// Reads a line from fd (up to '\n'), waiting at most `timeout`; false on timeout or EOF.
bool read_line(int fd, std::string& line, std::chrono::milliseconds timeout);
// The last `lines` lines of a file (for agent and stand-in logs in failure reports).
std::string tail_file(const std::string& path, size_t lines);

// Set by the signal thread; long operations check it and stop early.
bool interrupted();
void mark_interrupted();
// SIGKILLs every child that run() is waiting for (the signal thread's way to unblock it).
void kill_running_children();

// Owns what a run creates outside its own memory: network namespaces, a temp dir and long-lived
// child processes. cleanup() is idempotent and runs from the destructor, from the signal thread
// (SIGINT/SIGTERM/SIGHUP) and on normal exit, so an exception or Ctrl-C leaves nothing behind.
class Janitor {
 public:
  Janitor();
  ~Janitor();
  Janitor(const Janitor&) = delete;
  Janitor& operator=(const Janitor&) = delete;

  const std::string& prefix() const { return prefix_; }  // "npe2e-<pid>-"
  const std::string& tmpdir() const { return tmpdir_; }

  // Creates /run/netns/<prefix><name> and remembers it; returns the full name.
  std::string add_netns(const std::string& name);
  void delete_netns(const std::string& full_name);
  void add_child(pid_t pid);
  void forget_child(pid_t pid);

  void set_keep(bool keep) { keep_ = keep; }
  void cleanup();

  // Blocks SIGINT/SIGTERM/SIGHUP in every thread and starts a thread that cleans up and exits
  // when one arrives. Call before starting other threads.
  void install_signal_thread();
  // Removes namespaces and temp dirs of earlier runs whose process no longer exists.
  static void sweep_stale();

 private:
  std::mutex mu_;
  std::string prefix_;
  std::string tmpdir_;
  std::set<std::string> netns_;
  std::set<pid_t> children_;
  bool keep_ = false;
  bool done_ = false;
};

// Moves the calling thread into a network namespace for its lifetime (threads only: setns()
// of CLONE_NEWNET is per thread, so probes from many pods run in one process).
void enter_netns_thread(int netns_fd);
int open_netns(const std::string& full_name);  // O_RDONLY fd of /run/netns/<name>

}  // namespace e2e
