// Runs the API server stand-in (e2e/apiserver/apiserver.py) for a test: a child process in
// a temp dir, killed and removed by the destructor. Skips cleanly when python3 or openssl
// is missing (create() returns nullptr and says why).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace watch::testing {

class StandIn {
 public:
  static std::unique_ptr<StandIn> create(const std::vector<std::string>& args, std::string& why) {
    if (std::system("command -v python3 >/dev/null 2>&1") != 0) {
      why = "python3 is missing";
      return nullptr;
    }
    auto s = std::unique_ptr<StandIn>(new StandIn());
    s->dir_ = std::filesystem::temp_directory_path() /
              ("npstandin-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(s->dir_);
    std::vector<std::string> argv = {"python3", NFTPOLICY_STANDIN, "--dir", s->dir_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    s->pid_ = ::fork();
    if (s->pid_ == 0) {
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      const std::string log = (s->dir_ / "log").string();
      if (!std::freopen(log.c_str(), "w", stdout) || !std::freopen(log.c_str(), "a", stderr)) {
        ::_exit(127);
      }
      ::execvp("python3", cargv.data());
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (std::filesystem::exists(s->dir_ / "url")) {
        s->url_ = s->read("url");
        while (!s->url_.empty() && s->url_.back() == '\n') s->url_.pop_back();
        if (!s->url_.empty()) return s;
      }
      int st = 0;
      if (::waitpid(s->pid_, &st, WNOHANG) == s->pid_) {
        s->pid_ = -1;
        why = "the stand-in exited: " + s->read("log");
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    why = "the stand-in did not start: " + s->read("log");
    return nullptr;
  }
  ~StandIn() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& url() const { return url_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string read(const std::string& name) const {
    std::ifstream in(dir_ / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  StandIn() = default;
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::string url_;
};

}  // namespace watch::testing

#define REQUIRE_STANDIN(var, ...)                                        \
  std::string why_not_;                                                  \
  auto var = ::watch::testing::StandIn::create({__VA_ARGS__}, why_not_); \
  if (!var) GTEST_SKIP() << why_not_
