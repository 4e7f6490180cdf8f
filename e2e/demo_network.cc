#include "demo_network.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace demo {

namespace {

constexpr const char* kNodeSide = "ext0";  // in node-1
constexpr const char* kExtSide = "eth0";   // in the external namespace
constexpr const char* kNodeAddr = "192.168.78.1";
constexpr const char* kExtAddr = "192.168.78.2";
constexpr const char* kUnderlay = "ul0";
constexpr const char* kNode1Underlay = "192.168.77.1";

}  // namespace

void add_host_ips(const e2e::Cluster& cluster, const ExampleCluster& ex) {
  for (const auto& node : ex.nodes) {
    const auto ip = ex.host_ips.find(node);
    if (ip == ex.host_ips.end()) continue;
    for (const auto& n : cluster.nodes()) {
      if (n.name == ex.harness_node(node))
        e2e::must_run({"ip", "-n", n.netns, "addr", "add", ip->second + "/24", "dev", kUnderlay});
    }
  }
}

ExternalNetwork::ExternalNetwork(e2e::Janitor& janitor, const e2e::Cluster& cluster,
                                 ExternalOptions opt)
    : janitor_(janitor), cluster_(cluster), opt_(std::move(opt)) {}

ExternalNetwork::~ExternalNetwork() {
  try {
    destroy();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nftpolicy-demo: removing the external network: %s\n", e.what());
  }
}

void ExternalNetwork::create() {
  const auto& n1 = cluster_.nodes().at(0);
  const auto& n2 = cluster_.nodes().at(1);
  netns_ = janitor_.add_netns("external");
  netns_fd_ = e2e::open_netns(netns_);
  using e2e::must_run;
  must_run({"ip", "-n", netns_, "link", "set", "lo", "up"});
  // Created inside node-1 with its peer moved straight into the external namespace.
  must_run({"ip", "-n", n1.netns, "link", "add", kNodeSide, "type", "veth", "peer", "name",
            kExtSide, "netns", netns_});
  must_run({"ip", "-n", n1.netns, "addr", "add", std::string(kNodeAddr) + "/24", "dev", kNodeSide});
  must_run({"ip", "-n", n1.netns, "link", "set", kNodeSide, "up"});
  must_run({"ip", "-n", netns_, "addr", "add", std::string(kExtAddr) + "/24", "dev", kExtSide});
  for (const auto& ip : opt_.ips)
    must_run({"ip", "-n", netns_, "addr", "add", ip + "/32", "dev", kExtSide});
  must_run({"ip", "-n", netns_, "link", "set", kExtSide, "up"});
  // Pods keep their own source addresses (no masquerade): the way back is through node-1.
  must_run({"ip", "-n", netns_, "route", "add", "default", "via", kNodeAddr});
  must_run({"ip", "-n", n1.netns, "route", "add", opt_.cidr, "via", kExtAddr});
  must_run({"ip", "-n", n2.netns, "route", "add", opt_.cidr, "via", kNode1Underlay});
  start_server();
}

// The pod_server, as in a pod: it answers every TCP connection with its name.
void ExternalNetwork::start_server() {
  const e2e::Spawned s = e2e::spawn(
      {.argv = {opt_.pod_server, "--name", opt_.name, "--tcp", std::to_string(opt_.port)},
       .netns_fd = netns_fd_,
       .log = janitor_.tmpdir() + "/external.log",
       .pipe_stdout = true});
  server_ = s.pid;
  janitor_.add_child(server_);
  std::string line;
  const bool ready = e2e::read_line(s.stdout_fd, line, std::chrono::seconds(5)) && line == "ready";
  close(s.stdout_fd);
  if (!ready)
    throw std::runtime_error("the external server did not start:\n" +
                             e2e::tail_file(janitor_.tmpdir() + "/external.log", 10));
}

void ExternalNetwork::destroy() {
  if (server_ > 0) {
    e2e::stop_child(server_, SIGKILL, std::chrono::seconds(1));
    janitor_.forget_child(server_);
    server_ = -1;
  }
  if (netns_fd_ >= 0) close(netns_fd_), netns_fd_ = -1;
  if (!netns_.empty()) janitor_.delete_netns(netns_), netns_.clear();
}

}  // namespace demo
