// Processes and namespaces of the latency bench: the stop flag set by SIGINT/SIGTERM, network
// namespaces made with ip(8) and always deleted, children (the stand-in, the agent) started
// in the caller's namespace and always killed, the agent's log read line by line with the
// time each line arrived, and CPU and memory figures from /proc.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

// SIGINT/SIGTERM: every wait of the bench checks this and throws Interrupted, so that the
// destructors kill the children and delete the namespaces.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};
void install_signal_handlers();
bool interrupted();
void check_interrupted();
// Worker threads call this first: the signals go to the main thread, whose blocking calls
// they interrupt (EINTR).
void block_signals_in_this_thread();
// Sleeps until `t` (or throws Interrupted).
void sleep_until(Clock::time_point t);

// Runs a shell command; throws with its text if it fails.
void run(const std::string& command);

class Netns {
 public:
  explicit Netns(std::string name);  // ip netns add; lo up
  ~Netns();                          // ip netns del (after leave())
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  const std::string& name() const { return name_; }
  // Moves the calling thread into the namespace / back to where it was.
  void enter();
  void leave();

 private:
  std::string name_;
  int original_ = -1;
};

// A child process in its own process group, killed (SIGTERM, then SIGKILL) by the destructor
// and when the bench dies (PR_SET_PDEATHSIG).
class Child {
 public:
  // stdout and stderr: a pipe the caller reads (*_fd()), or a file path, or "" (inherit).
  Child(const std::vector<std::string>& argv, bool pipe_stdout, bool pipe_stderr,
        const std::string& stderr_file = "");
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  int stdout_fd() const { return out_; }
  int stderr_fd() const { return err_; }
  Clock::time_point started() const { return started_; }
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status (waitpid's).
  int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  bool running();

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  Clock::time_point started_;
};

// Reads the first line of `fd` (the stand-in's "ready URL"), or throws after `timeout`.
std::string read_first_line(int fd, std::chrono::milliseconds timeout);

// One line of the agent's log, with the time it arrived and its key=value fields.
struct LogLine {
  Clock::time_point at;
  std::string text;
  std::map<std::string, std::string> fields;
  double number(const std::string& key, double fallback = -1) const;
};

// Reads the agent's stderr on a thread: every line goes to `copy_path`; warnings and errors
// are echoed to our stderr; sync lines ("sync node=... result=ok") and the end of the first
// list are queued for the bench.
class AgentLog {
 public:
  AgentLog(int fd, const std::string& copy_path);
  ~AgentLog();
  AgentLog(const AgentLog&) = delete;
  AgentLog& operator=(const AgentLog&) = delete;

  // The next sync line, or nothing by `deadline`.
  std::optional<LogLine> next_sync(Clock::time_point deadline);
  void clear();
  // When "first list complete" was read (if it was).
  std::optional<Clock::time_point> listed() const;
  std::size_t errors() const { return errors_; }

 private:
  void run(int fd, std::string copy_path);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<LogLine> syncs_;
  std::optional<Clock::time_point> listed_;
  std::atomic<std::size_t> errors_{0};
  std::thread thread_;
};

// /proc figures.
struct ProcCpu {
  double seconds = 0;  // utime + stime, all threads
};
ProcCpu proc_cpu(pid_t pid);
struct ProcMemory {
  long rss_kb = 0;
  long hwm_kb = 0;
};
ProcMemory proc_memory(pid_t pid);

// A TCP port free on 127.0.0.1 in the current namespace (for the agent's --listen-address).
int free_local_port();

}  // namespace bench
