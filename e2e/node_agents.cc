#include "node_agents.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

namespace e2e {

NodeAgents::NodeAgents(Janitor& janitor, const Cluster& cluster, AgentOptions opt)
    : janitor_(janitor), cluster_(cluster), opt_(std::move(opt)) {}

NodeAgents::~NodeAgents() {
  stop();
}

void NodeAgents::start() {
  if (running()) return;
  logs_.clear();
  for (const auto& n : cluster_.nodes()) {
    AgentProcess a{.node = n.name,
                   .netns = n.netns,
                   .netns_fd = open_netns(n.netns),
                   .log = opt_.logdir + "/agent-" + n.name + ".log"};
    // A long resync interval: the kernel is read back only when a test asks for it.
    const auto named = opt_.node_names.find(n.name);
    const std::string node = named == opt_.node_names.end() ? n.name : named->second;
    a.pid = spawn({.argv = {opt_.binary, "--node", node, "--kubeconfig", opt_.kubeconfig,
                            "--listen-address", "127.0.0.1:" + std::to_string(opt_.port),
                            "--resync-interval", "3600"},
                   .netns_fd = a.netns_fd,
                   .log = a.log})
                .pid;
    janitor_.add_child(a.pid);
    logs_.emplace_back(a.node, a.log);
    agents_.push_back(std::move(a));
  }
}

void NodeAgents::stop() {
  for (auto& a : agents_) {
    if (a.pid > 0) {
      kill(a.pid, SIGCONT);  // a stopped process does not act on SIGTERM
      stop_child(a.pid, SIGTERM, std::chrono::seconds(10));
      janitor_.forget_child(a.pid);
    }
    close(a.netns_fd);
  }
  agents_.clear();
}

void NodeAgents::signal_all(int sig) {
  for (const auto& a : agents_) {
    if (a.pid > 0) kill(a.pid, sig);
  }
}

std::string NodeAgents::check_alive() {
  std::string out;
  for (auto& a : agents_) {
    int status = 0;
    if (a.pid > 0 && waitpid(a.pid, &status, WNOHANG) == a.pid) {
      janitor_.forget_child(a.pid);
      a.pid = -1;
      a.exit = WIFEXITED(status) ? "exited " + std::to_string(WEXITSTATUS(status))
                                 : "killed by signal " + std::to_string(WTERMSIG(status));
    }
    if (!a.exit.empty()) out += (out.empty() ? "" : "; ") + ("agent on " + a.node + " " + a.exit);
  }
  return out;
}

HttpResponse NodeAgents::get(size_t agent, const std::string& path) const {
  return http_request({.netns_fd = agents_.at(agent).netns_fd,
                       .host = "127.0.0.1",
                       .port = opt_.port,
                       .path = path,
                       .timeout = std::chrono::seconds(2)});
}

Samples NodeAgents::metrics(size_t agent) const {
  const HttpResponse r = get(agent, "/metrics");
  if (!r.ok())
    throw std::runtime_error("agent on " + agents_.at(agent).node + ": /metrics: " + r.describe());
  Samples out;
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);) {
    const auto space = line.rfind(' ');
    if (line.empty() || line[0] == '#' || space == std::string::npos) continue;
    out[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return out;
}

double NodeAgents::sample(const Samples& s, const std::string& name, const std::string& label,
                          const std::string& value) {
  const auto it = s.find(name + "{" + label + "=\"" + value + "\"}");
  return it == s.end() ? -1 : it->second;
}

std::string NodeAgents::log_tails(size_t lines) const {
  std::string out;
  for (const auto& [node, log] : logs_)
    out += "  log of the agent on " + node + " (" + log + "):\n" + tail_file(log, lines);
  return out;
}

}  // namespace e2e
