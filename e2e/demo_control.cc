#include "demo_control.h"

#include <filesystem>
#include <fstream>
#include <thread>

namespace demo {

namespace {

constexpr const char* kSynced = "nftpolicy_synced_resource_version";
constexpr const char* kResources[] = {"namespaces", "pods", "networkpolicies"};

}  // namespace

ControlPlane::ControlPlane(e2e::Janitor& janitor, const e2e::Cluster& cluster, ControlOptions opt)
    : janitor_(janitor), cluster_(cluster), opt_(std::move(opt)), dir_(opt_.workdir + "/api") {
  std::filesystem::create_directories(dir_);
  standin_ = std::make_unique<e2e::StandIn>(
      janitor_, e2e::StandInOptions{.script = opt_.standin_script,
                                    .kubectl = opt_.kubectl,
                                    .dir = dir_ + "/standin",
                                    .netns = cluster_.nodes().at(0).netns});
  agents_ = std::make_unique<e2e::NodeAgents>(janitor_, cluster_,
                                              e2e::AgentOptions{.binary = opt_.agent,
                                                                .kubeconfig = kubeconfig(),
                                                                .logdir = dir_,
                                                                .node_names = opt_.node_names});
}

ControlPlane::~ControlPlane() {
  agents_->stop();  // they leave their rules; the node namespaces go right after
  standin_->stop();
}

e2e::RunResult ControlPlane::kubectl(const std::vector<std::string>& args,
                                     const std::string& input) const {
  std::vector<std::string> argv = {opt_.kubectl, "--kubeconfig", kubeconfig(), "--cache-dir",
                                   dir_ + "/kubectl-cache"};
  argv.insert(argv.end(), args.begin(), args.end());
  return e2e::run(e2e::in_netns(cluster_.nodes().at(0).netns, argv),
                  {.input = input, .timeout = std::chrono::seconds(60)});
}

std::string ControlPlane::must_kubectl(const std::vector<std::string>& args,
                                       const std::string& input) const {
  const e2e::RunResult r = kubectl(args, input);
  if (r.rc != 0)
    throw std::runtime_error("kubectl " + e2e::join(args, " ") + " failed: " + r.err + r.out);
  return r.out;
}

double ControlPlane::converge() {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const double rv = static_cast<double>(standin_->resource_version());
  for (;;) {
    if (const std::string dead = agents_->check_alive(); !dead.empty())
      throw std::runtime_error(dead + "\n" + diagnostics());
    bool all = true;
    for (size_t i = 0; i < agents_->agents().size() && all; ++i) {
      e2e::Samples s;
      try {
        s = agents_->metrics(i);
      } catch (const std::exception&) {
        // not listening yet
      }
      for (const char* r : kResources)
        all &= e2e::NodeAgents::sample(s, kSynced, "resource", r) >= rv;
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (all) return secs;
    if (Clock::now() - t0 > opt_.converge_timeout || e2e::interrupted())
      throw std::runtime_error("the agents did not reach resourceVersion " +
                               std::to_string(static_cast<uint64_t>(rv)) + " within " +
                               std::to_string(static_cast<int>(secs)) + " s\n" + diagnostics());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

size_t ControlPlane::log_size(size_t agent) const {
  std::error_code ec;
  const auto n = std::filesystem::file_size(agents_->agents().at(agent).log, ec);
  return ec ? 0 : static_cast<size_t>(n);
}

std::vector<std::string> ControlPlane::agent_log_since(size_t agent, size_t from) const {
  std::ifstream in(agents_->agents().at(agent).log);
  in.seekg(static_cast<std::streamoff>(from));
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string ControlPlane::diagnostics() const {
  return agents_->log_tails(15) + "  log of the stand-in (" + standin_->log() + "):\n" +
         e2e::tail_file(standin_->log(), 15);
}

}  // namespace demo
