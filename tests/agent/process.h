// Running the agent (and friends) as processes from the agent tests.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>

namespace agent_test {

struct Out {
  int rc = -1;
  std::string text;  // stdout and stderr
};

// Runs a shell command to completion.
inline Out sh(const std::string& cmd) {
  Out o;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return o;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) o.text.append(buf, n);
  const int st = ::pclose(p);
  o.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

// Starts a shell command in the background (`exec` so that the pid is the command's).
inline pid_t spawn(const std::string& cmd) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string full = "exec " + cmd;
    ::execl("/bin/sh", "sh", "-c", full.c_str(), nullptr);
    ::_exit(127);
  }
  return pid;
}

// Sends `sig` and reaps; the exit code (-1 if it did not exit normally).
inline int stop(pid_t pid, int sig = SIGTERM) {
  ::kill(pid, sig);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Polls `pred` until it holds; false after `limit`.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::seconds(10),
                       std::chrono::milliseconds step = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(step);
  }
  return pred();
}

}  // namespace agent_test
