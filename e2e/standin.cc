#include "standin.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "http_client.h"

namespace e2e {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

StandIn::StandIn(Janitor& janitor, StandInOptions opt)
    : janitor_(janitor),
      opt_(std::move(opt)),
      log_(opt_.dir + ".log"),
      netns_fd_(open_netns(opt_.netns)) {}

StandIn::~StandIn() {
  try {
    stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "npe2e: stopping the stand-in: %s\n", e.what());
  }
  close(netns_fd_);
}

void StandIn::start() {
  if (running()) return;
  std::filesystem::create_directories(opt_.dir);
  std::vector<std::string> argv = {opt_.python,
                                   opt_.script,
                                   "--dir",
                                   opt_.dir,
                                   "--listen",
                                   opt_.host + ":" + std::to_string(opt_.port),
                                   "--tls",
                                   "--san",
                                   opt_.host,
                                   "--bookmark-interval",
                                   std::to_string(opt_.bookmark_interval),
                                   "--exit-with-parent"};
  if (!opt_.state.empty()) argv.insert(argv.end(), {"--state", opt_.state});
  const Spawned s = spawn({.argv = argv, .netns_fd = netns_fd_, .log = log_, .pipe_stdout = true});
  pid_ = s.pid;
  janitor_.add_child(pid_);
  std::string line;
  // Certificates come from the openssl CLI: a second or so on a loaded machine.
  const bool ready =
      read_line(s.stdout_fd, line, std::chrono::seconds(30)) && line.rfind("ready ", 0) == 0;
  close(s.stdout_fd);
  if (!ready) {
    stop();
    throw std::runtime_error("the API server stand-in did not start: '" + line + "'\n" +
                             tail_file(log_, 30));
  }
}

void StandIn::stop() {
  if (!running()) return;
  const int rc = stop_child(pid_, SIGTERM, std::chrono::seconds(10));
  janitor_.forget_child(pid_);
  pid_ = -1;
  if (rc != 0) std::fprintf(stderr, "npe2e: the stand-in exited with %d\n", rc);
}

nlohmann::json StandIn::control(const std::string& method, const std::string& path,
                                const nlohmann::json& body) const {
  const HttpResponse r = http_request({.netns_fd = netns_fd_,
                                       .host = opt_.host,
                                       .port = opt_.port,
                                       .method = method,
                                       .path = path,
                                       .body = body.is_null() ? "" : body.dump(),
                                       .ca_file = ca_file()});
  if (!r.ok()) throw std::runtime_error("stand-in " + method + " " + path + ": " + r.describe());
  return nlohmann::json::parse(r.body);
}

std::uint64_t StandIn::resource_version() const {
  return std::stoull(control("GET", "/_standin/stats").at("resource_version").get<std::string>());
}

RunResult StandIn::try_kubectl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {opt_.kubectl, "--kubeconfig", kubeconfig(), "--cache-dir",
                                   opt_.dir + "/kubectl-cache"};
  argv.insert(argv.end(), args.begin(), args.end());
  if (opt_.verbose) std::printf("  $ kubectl %s\n", join(args, " ").c_str());
  const auto t0 = Clock::now();
  RunResult r = run(in_netns(opt_.netns, argv), {.timeout = std::chrono::seconds(60)});
  kubectl_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
  ++kubectl_calls_;
  return r;
}

std::string StandIn::kubectl(const std::vector<std::string>& args) const {
  const RunResult r = try_kubectl(args);
  if (r.rc != 0) {
    throw std::runtime_error("kubectl " + join(args, " ") + " failed (rc=" + std::to_string(r.rc) +
                             "): " + r.err + r.out);
  }
  return r.out;
}

}  // namespace e2e
