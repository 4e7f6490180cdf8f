// The mid-stream guard (compiler::Options::midstream_guard): which addresses it covers, where
// its rules sit, and — through the interpreter — that it drops exactly the `ct state new`
// TCP packets that are not a bare SYN and touch an isolated pod of the node, while first
// packets (SYNs) are judged as before. The real-traffic proof is in tests/conntrack.
#include <gtest/gtest.h>

#include <algorithm>

#include "compiler/compiler.h"
#include "compiler/interpreter.h"
#include "nft/diff.h"
#include "nft/render.h"
#include "nft/validate.h"
#include "policy/loader.h"

namespace {

using compiler::Packet;
using nft::Hook;

common::IpAddr ip(const char* s) {
  return *common::IpAddr::parse(s);
}

// n1 holds: srv (ingress-isolated, admits app=client on 8080), cli (egress-isolated, may
// reach anything), free (not isolated), v6 (isolated, dual-stack); far lives on n2.
const char* kCluster = R"(
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: srv, namespace: ns, labels: {app: srv}},
   spec: {nodeName: n1, containers: [{name: c}]}, status: {phase: Running, podIP: 10.244.1.10}}
- {apiVersion: v1, kind: Pod, metadata: {name: cli, namespace: ns, labels: {app: client}},
   spec: {nodeName: n1, containers: [{name: c}]}, status: {phase: Running, podIP: 10.244.1.11}}
- {apiVersion: v1, kind: Pod, metadata: {name: free, namespace: ns, labels: {app: free}},
   spec: {nodeName: n1, containers: [{name: c}]}, status: {phase: Running, podIP: 10.244.1.12}}
- {apiVersion: v1, kind: Pod, metadata: {name: v6, namespace: ns, labels: {app: srv}},
   spec: {nodeName: n1, containers: [{name: c}]},
   status: {phase: Running, podIP: 10.244.1.13, podIPs: [{ip: 10.244.1.13}, {ip: "fd00::13"}]}}
- {apiVersion: v1, kind: Pod, metadata: {name: far, namespace: ns, labels: {app: srv}},
   spec: {nodeName: n2, containers: [{name: c}]}, status: {phase: Running, podIP: 10.244.2.10}}
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: srv-in, namespace: ns},
   spec: {podSelector: {matchLabels: {app: srv}},
          ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 8080}]}]}}
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: cli-out, namespace: ns},
   spec: {podSelector: {matchLabels: {app: client}}, policyTypes: [Egress], egress: [{}]}}
)";

nft::Program program(compiler::Options options = {}) {
  policy::Loader loader;
  loader.add_text(kCluster, "guard.yaml");
  auto r = std::move(loader).finish();
  EXPECT_TRUE(r.errors.empty());
  return compiler::compile(r.cluster, "n1", options).program;
}

nft::ElementSet addresses(std::initializer_list<const char*> list) {
  nft::ElementSet out;
  for (const char* a : list) out.insert(nft::Element::address(a).value());
  return out;
}

TEST(MidstreamGuard, CoversPodsOfTheNodeIsolatedInAnyDirection) {
  const nft::Program p = program();
  ASSERT_TRUE(nft::validate(p).is_ok()) << nft::validate(p).error().to_string();
  EXPECT_EQ(p.sets.at(compiler::kIsolatedV4).elements,
            addresses({"10.244.1.10", "10.244.1.11", "10.244.1.13"}));
  EXPECT_EQ(p.sets.at(compiler::kIsolatedV6).elements, addresses({"fd00::13"}));
}

TEST(MidstreamGuard, RulesComeRightAfterTheEstablishedRule) {
  const nft::Program p = program();
  // forward: saddr and daddr, both families; input: saddr (pod -> node); output: daddr.
  const std::pair<const char*, std::size_t> want[] = {
      {compiler::kForwardChain, 4}, {compiler::kInputChain, 2}, {compiler::kOutputChain, 2}};
  for (const auto& [name, guards] : want) {
    SCOPED_TRACE(name);
    const nft::Chain* chain = p.find_chain(name);
    ASSERT_NE(chain, nullptr);
    // The quarantine rule, the established rule, then the guard.
    const std::size_t established = 1;
    ASSERT_GT(chain->rules.size(), established + guards);
    EXPECT_EQ(nft::render_rule(chain->rules[established]),
              "ct state established,related,untracked accept");
    for (std::size_t i = established + 1; i <= established + guards; ++i) {
      const auto& rule = chain->rules[i];
      EXPECT_EQ(rule.statement, nft::Statement{nft::Verdict::drop()}) << nft::render_rule(rule);
      EXPECT_TRUE(std::holds_alternative<nft::TcpFlagsMatch>(rule.matches.at(1)));
    }
  }
}

struct Case {
  const char* what;
  Hook hook;
  const char* src;
  const char* dst;
  std::uint32_t ct_state;
  std::uint8_t flags;
  bool accepted;
};

Packet packet(const Case& c) {
  return Packet{.hook = c.hook,
                .saddr = ip(c.src),
                .daddr = ip(c.dst),
                .l4proto = nft::kProtoTcp,
                .dport = 8080,
                .ct_state = c.ct_state,
                .tcp_flags = c.flags};
}

constexpr std::uint8_t kSyn = nft::kTcpSyn;
constexpr std::uint8_t kAck = nft::kTcpAck;
constexpr std::uint8_t kPshAck = nft::kTcpPsh | nft::kTcpAck;
constexpr std::uint8_t kRstAck = nft::kTcpRst | nft::kTcpAck;
constexpr std::uint32_t kNew = nft::kCtNew;
constexpr std::uint32_t kEst = nft::kCtEstablished;
constexpr std::uint32_t kInvalid = nft::kCtInvalid;

const Case kCases[] = {
    {"a SYN to the server is judged by its policy", Hook::forward, "10.244.1.11", "10.244.1.10",
     kNew, kSyn, true},
    {"a SYN from a stranger is denied by the policy", Hook::forward, "10.244.1.12", "10.244.1.10",
     kNew, kSyn, false},
    {"client data picked up mid-stream", Hook::forward, "10.244.1.11", "10.244.1.10", kNew, kPshAck,
     false},
    {"server push picked up mid-stream (the trap)", Hook::forward, "10.244.1.10", "10.244.1.11",
     kNew, kPshAck, false},
    {"a remote server pushing to an egress-isolated client", Hook::forward, "10.244.2.10",
     "10.244.1.11", kNew, kAck, false},
    {"mid-stream pickup between pods no policy isolates", Hook::forward, "10.244.1.12",
     "10.244.2.10", kNew, kAck, true},
    {"established packets never reach the guard", Hook::forward, "10.244.1.10", "10.244.1.11", kEst,
     kPshAck, true},
    {"a RST without entry is invalid: judged like a first packet, allowed server->client",
     Hook::forward, "10.244.1.10", "10.244.1.12", kInvalid, kRstAck, true},
    {"a RST without entry towards the server: denied by its policy", Hook::forward, "10.244.1.12",
     "10.244.1.10", kInvalid, kRstAck, false},
    {"IPv6 server push", Hook::forward, "fd00::13", "fd00::99", kNew, kPshAck, false},
    {"IPv6 SYN to a port the policy does not open", Hook::forward, "fd00::99", "fd00::13", kNew,
     kSyn, false},
    {"input: a pod pushing to a node socket", Hook::input, "10.244.1.10", "192.168.0.1", kNew, kAck,
     false},
    {"input: a SYN from the same pod", Hook::input, "10.244.1.10", "192.168.0.1", kNew, kSyn, true},
    {"output: the node pushing to an isolated pod", Hook::output, "192.168.0.1", "10.244.1.11",
     kNew, kAck, false},
    {"output: the node pushing to a pod no policy isolates", Hook::output, "192.168.0.1",
     "10.244.1.12", kNew, kAck, true},
};

TEST(MidstreamGuard, DropsNonSynFirstPacketsOfIsolatedPodsOnly) {
  const nft::Program p = program();
  for (const Case& c : kCases) {
    std::string trace;
    const auto out = compiler::run(p, packet(c), true);
    for (const auto& line : out.trace) trace += line + "\n";
    EXPECT_EQ(out.accepted, c.accepted) << c.what << "\n" << trace;
  }
}

TEST(MidstreamGuard, UdpIsNotGuarded) {
  // UDP has no handshake: a datagram that opens a flow is a first packet like any other,
  // and the policy alone decides (see conntrack/README.md).
  Packet udp = packet(kCases[3]);
  udp.l4proto = nft::kProtoUdp;
  EXPECT_TRUE(compiler::run(program(), udp).accepted);
}

TEST(MidstreamGuard, CanBeTurnedOff) {
  const nft::Program p = program({.midstream_guard = false});
  EXPECT_EQ(p.find_set(compiler::kIsolatedV4), nullptr);
  // The output chain stays for the quarantine alone.
  ASSERT_NE(p.find_chain(compiler::kOutputChain), nullptr);
  EXPECT_EQ(p.find_chain(compiler::kOutputChain)->rules.size(), 2u);
  EXPECT_EQ(
      program({.midstream_guard = false, .quarantine_mark = 0}).find_chain(compiler::kOutputChain),
      nullptr);
  // The trap is then open: the server's push is a new flow its policy allows.
  EXPECT_TRUE(compiler::run(p, packet(kCases[3])).accepted);
}

TEST(MidstreamGuard, IsolatingAPodIsAnElementChange) {
  std::string yaml = kCluster;
  const nft::Program before = program();
  // `free` becomes a client: egress-isolated by cli-out, an existing chain.
  const std::string from = "labels: {app: free}";
  yaml.replace(yaml.find(from), from.size(), "labels: {app: client}");
  policy::Loader loader;
  loader.add_text(yaml, "guard.yaml");
  const nft::Program after = compiler::compile(std::move(loader).finish().cluster, "n1").program;
  const nft::Transaction tx = nft::diff(before, after);
  ASSERT_FALSE(tx.empty());
  for (const auto& op : tx.ops) {
    EXPECT_TRUE(std::holds_alternative<nft::op::AddElements>(op) ||
                std::holds_alternative<nft::op::DeleteElements>(op))
        << nft::render(tx);
  }
  EXPECT_TRUE(after.sets.at(compiler::kIsolatedV4)
                  .elements.count(nft::Element::address("10.244.1.12").value()));
}

}  // namespace
