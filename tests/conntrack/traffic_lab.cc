#include "traffic_lab.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>
#include <tuple>

#include "nft/diff.h"
#include "test_support.h"

namespace conntrack_test {

using nft::testing::Netns;
using nft::testing::run;

std::string cluster(bool admit_client) {
  const std::string from = admit_client ? "client" : "nobody";
  return pod("lab", "client", "n1", kClient, "app: client") +
         pod("lab", "server", "n1", kServer, "app: server") +
         policy("lab", "server-in",
                "podSelector: {matchLabels: {app: server}}, ingress: [{from: "
                "[{podSelector: {matchLabels: {app: " +
                    from + "}}}], ports: [{port: 8080}, {port: 5353, protocol: UDP}]}]");
}

Fd::~Fd() {
  if (fd >= 0) close(fd);
}

sockaddr_in address(const char* addr, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, addr, &sa.sin_addr);
  return sa;
}

std::unique_ptr<Lab> Lab::create(std::string& why_not) {
  auto lab = std::unique_ptr<Lab>(new Lab);
  for (auto* ns : {&lab->client_, &lab->server_, &lab->node_}) {
    *ns = Netns::create(why_not);
    if (!*ns) return nullptr;
  }
  if (!lab->wire(why_not)) return nullptr;
  in_netns(lab->node_->name(), [&] {
    if (auto t = conntrack::KernelTable::open(); t) lab->table_ = std::move(t).value();
  });
  auto nl = lab->node_->open_netlink();
  if (!lab->table_ || !nl) return why_not = "cannot open netlink sockets in the node", nullptr;
  lab->nl_ = std::move(nl).value();
  return lab;
}

void Lab::apply(const nft::Program& p) {
  ASSERT_TRUE(nl_->apply(nft::diff(current_, p)).is_ok());
  current_ = p;
}

conntrack::RevokeReport Lab::revoke(const nft::Program& before, const nft::Program& after,
                                    const conntrack::RevokeOptions& options) {
  const conntrack::NodeAddresses node{{ip("10.100.1.1"), ip("10.100.2.1")}};
  auto r =
      conntrack::revoke(after, *table_, conntrack::scope_of_change(before, after), node, options);
  EXPECT_TRUE(r.is_ok()) << r.error().to_string();
  return r.is_ok() ? r.value() : conntrack::RevokeReport{};
}

std::vector<conntrack::Entry> Lab::entries() {
  std::vector<conntrack::Entry> out;
  for (const char* a : {kClient, kServer}) {
    auto found = table_->entries(conntrack::DumpFilter::of(conntrack::Field::orig_src, ip(a)));
    EXPECT_TRUE(found.is_ok());
    if (found.is_ok()) out.insert(out.end(), found.value().begin(), found.value().end());
  }
  return out;
}

Fd Lab::socket_in(const Netns& ns, int type) {
  Fd fd;
  in_netns(ns.name(), [&] { fd = Fd(::socket(AF_INET, type, 0)); });
  timeval timeout{.tv_sec = 3, .tv_usec = 0};
  setsockopt(fd.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  return fd;
}

bool Lab::wire(std::string& why_not) {
  const std::string r = "ip -n " + node_->name() + " ";
  const std::vector<std::string> commands = {
      r + "link add ra type veth peer name eth0 netns " + client_->name(),
      r + "link add rb type veth peer name eth0 netns " + server_->name(),
      r + "addr add 10.100.1.1/24 dev ra", r + "addr add 10.100.2.1/24 dev rb",
      r + "link set ra up", r + "link set rb up", r + "link set lo up",
      "ip netns exec " + node_->name() + " sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'",
      // The kernel default, stated: the mid-stream trap exists because of it.
      "ip netns exec " + node_->name() +
          " sh -c 'echo 1 > /proc/sys/net/netfilter/nf_conntrack_tcp_loose'"};
  for (const auto& c : commands) {
    if (auto o = run(c); o.status != 0) return why_not = c + ": " + o.text, false;
  }
  for (const auto& [ns, addr, gw] : {std::tuple{client_.get(), "10.100.1.2/24", "10.100.1.1"},
                                     std::tuple{server_.get(), "10.100.2.2/24", "10.100.2.1"}}) {
    const std::string p = "ip -n " + ns->name() + " ";
    for (const std::string& c : {p + "addr add " + addr + " dev eth0", p + "link set eth0 up",
                                 p + "link set lo up", p + "route add default via " + gw}) {
      if (auto o = run(c); o.status != 0) return why_not = c + ": " + o.text, false;
    }
  }
  return true;
}

std::uint64_t counted(Lab& lab, const std::string& comment) {
  const nft::testing::Output o = lab.node().nft("list chain inet nftpolicy forward");
  std::uint64_t total = 0;
  std::istringstream in(o.text);
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find("counter packets ");
    if (line.find(comment) == std::string::npos || at == std::string::npos) continue;
    total += std::stoull(line.substr(at + 16));
  }
  return total;
}

bool receives(int to, int ms) {
  pollfd p{.fd = to, .events = POLLIN, .revents = 0};
  if (poll(&p, 1, ms) <= 0) return false;
  char buffer[4096];
  return recv(to, buffer, sizeof buffer, MSG_DONTWAIT) > 0;
}

bool passes(int from, int to, int ms) {
  const char message[] = "data";
  return send(from, message, sizeof message, MSG_NOSIGNAL) > 0 && receives(to, ms);
}

bool echoes(int server, int ms) {
  pollfd p{.fd = server, .events = POLLIN, .revents = 0};
  if (poll(&p, 1, ms) <= 0) return false;
  char buffer[512];
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  const ssize_t n = recvfrom(server, buffer, sizeof buffer, MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&peer), &len);
  if (n <= 0) return false;
  sendto(server, buffer, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&peer), len);
  return true;
}

}  // namespace conntrack_test
