#include "test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "policy/loader.h"

namespace conntrack_test {

common::IpAddr ip(const char* text) {
  auto a = common::IpAddr::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(common::IpAddr{});
}

std::string pod(const std::string& ns, const std::string& name, const std::string& node,
                const std::string& ips, const std::string& labels) {
  std::string list, first;
  std::stringstream in(ips);
  for (std::string one; std::getline(in, one, ',');) {
    if (first.empty()) first = one;
    list += (list.empty() ? "" : ", ") + std::string("{ip: \"") + one + "\"}";
  }
  return "---\n{apiVersion: v1, kind: Pod, metadata: {name: " + name + ", namespace: " + ns +
         ", labels: {" + labels + "}}, spec: {nodeName: " + node +
         ", containers: [{name: c}]}, status: {phase: Running, podIP: \"" + first +
         "\", podIPs: [" + list + "]}}\n";
}

std::string policy(const std::string& ns, const std::string& name, const std::string& spec) {
  return "---\n{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: " + name +
         ", namespace: " + ns + "}, spec: {" + spec + "}}\n";
}

nft::Program compile(const std::string& yaml, const std::string& node, compiler::Options options) {
  policy::Loader loader;
  loader.add_text(yaml, "test.yaml");
  auto r = std::move(loader).finish();
  EXPECT_TRUE(r.errors.empty()) << r.errors.front().error.message;
  return compiler::compile(r.cluster, node, options).program;
}

conntrack::Entry flow(std::uint8_t l4proto, const char* src, std::uint16_t sport, const char* dst,
                      std::uint16_t dport) {
  return conntrack::Entry::flow(l4proto, {ip(src), ip(dst), sport, dport});
}

conntrack::Entry dnat(conntrack::Entry e, const char* to, std::uint16_t to_port) {
  e.reply.src = ip(to);
  e.reply.sport = to_port;
  e.status |= conntrack::kStatusDstNat;
  return e;
}

bool in_netns(const std::string& netns, const std::function<void()>& body) {
  bool entered = false;
  const std::string path = "/run/netns/" + netns;
  std::thread thread([&] {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    // Never fall back to the root namespace.
    entered = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
    if (fd >= 0) close(fd);
    if (entered) body();
  });
  thread.join();
  return entered;
}

}  // namespace conntrack_test
