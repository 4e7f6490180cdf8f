// The quarantine (compiler::Options::quarantine_mark): where its rule sits, what it renders
// to, and — through the interpreter — that it drops every packet of a connection whose
// conntrack entry carries the bit, in both directions and every hook, while first packets
// (which carry no mark) are judged exactly as without it. The real-traffic proof is in
// tests/conntrack/quarantine_traffic_test.cc.
#include <gtest/gtest.h>

#include "compiler/compiler.h"
#include "compiler/interpreter.h"
#include "nft/render.h"
#include "nft/validate.h"
#include "policy/loader.h"

namespace {

using compiler::Packet;
using nft::Hook;

common::IpAddr ip(const char* s) {
  return *common::IpAddr::parse(s);
}

// n1 holds: srv (ingress-isolated, admits app=client on TCP 8080 and UDP 5353), cli (not
// isolated), free (not isolated); far lives on n2.
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
- {apiVersion: v1, kind: Pod, metadata: {name: far, namespace: ns, labels: {app: far}},
   spec: {nodeName: n2, containers: [{name: c}]}, status: {phase: Running, podIP: 10.244.2.10}}
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: srv-in, namespace: ns},
   spec: {podSelector: {matchLabels: {app: srv}},
          ingress: [{from: [{podSelector: {matchLabels: {app: client}}}],
                     ports: [{port: 8080}, {port: 5353, protocol: UDP}]}]}}
)";

constexpr std::uint32_t kBit = compiler::kDefaultQuarantineMark;

nft::Program program(compiler::Options options = {}) {
  policy::Loader loader;
  loader.add_text(kCluster, "quarantine.yaml");
  auto r = std::move(loader).finish();
  EXPECT_TRUE(r.errors.empty());
  return compiler::compile(r.cluster, "n1", options).program;
}

TEST(Quarantine, TheRuleIsFirstInEveryBaseChain) {
  const nft::Program p = program();
  ASSERT_TRUE(nft::validate(p).is_ok()) << nft::validate(p).error().to_string();
  for (const char* name :
       {compiler::kForwardChain, compiler::kInputChain, compiler::kOutputChain}) {
    SCOPED_TRACE(name);
    const nft::Chain* chain = p.find_chain(name);
    ASSERT_NE(chain, nullptr);
    ASSERT_GE(chain->rules.size(), 2u);
    EXPECT_EQ(nft::render_rule(chain->rules[0]),
              "ct mark & 0x00800000 == 0x00800000 counter drop comment \"revoked connection\"");
    EXPECT_EQ(nft::render_rule(chain->rules[1]), "ct state established,related,untracked accept");
  }
}

TEST(Quarantine, TheBitIsConfigurableAndZeroTurnsItOff) {
  const nft::Program other = program({.quarantine_mark = 0x10, .counters = false});
  EXPECT_EQ(nft::render_rule(other.find_chain(compiler::kForwardChain)->rules[0]),
            "ct mark & 0x00000010 == 0x00000010 drop comment \"revoked connection\"");
  const nft::Program off = program({.quarantine_mark = 0});
  for (const auto& [name, chain] : off.chains) {
    for (const nft::Rule& rule : chain.rules) {
      for (const nft::Match& m : rule.matches) {
        EXPECT_FALSE(std::holds_alternative<nft::CtMarkMatch>(m)) << nft::render_rule(rule);
      }
    }
  }
  EXPECT_EQ(nft::render_rule(off.find_chain(compiler::kForwardChain)->rules[0]),
            "ct state established,related,untracked accept");
}

struct Case {
  const char* what;
  Hook hook;
  const char* src;
  const char* dst;
  std::uint8_t l4proto;
  std::uint32_t ct_state;
  std::uint32_t ct_mark;
  bool accepted;
};

Packet packet(const Case& c) {
  return Packet{.hook = c.hook,
                .saddr = ip(c.src),
                .daddr = ip(c.dst),
                .l4proto = c.l4proto,
                .dport = c.l4proto == nft::kProtoUdp ? 5353 : 8080,
                .ct_state = c.ct_state,
                .ct_mark = c.ct_mark,
                .tcp_flags = nft::kTcpAck};
}

constexpr std::uint8_t kUdp = nft::kProtoUdp;
constexpr std::uint8_t kTcp = nft::kProtoTcp;
constexpr std::uint32_t kEst = nft::kCtEstablished;
constexpr std::uint32_t kNew = nft::kCtNew;

const Case kCases[] = {
    {"the client's datagram of a quarantined flow", Hook::forward, "10.244.1.11", "10.244.1.10",
     kUdp, kEst, kBit, false},
    {"the server's late answer (a reply of the quarantined entry)", Hook::forward, "10.244.1.10",
     "10.244.1.11", kUdp, kEst, kBit, false},
    {"the same flow unmarked passes as established", Hook::forward, "10.244.1.11", "10.244.1.10",
     kUdp, kEst, 0, true},
    {"other bits of the mark are not ours", Hook::forward, "10.244.1.11", "10.244.1.10", kUdp, kEst,
     0x4000 | 0x1, true},
    {"our bit among others", Hook::forward, "10.244.1.11", "10.244.1.10", kUdp, kEst, kBit | 0x4000,
     false},
    {"a quarantined flow between pods no policy isolates", Hook::forward, "10.244.1.12",
     "10.244.2.10", kUdp, kEst, kBit, false},
    {"TCP carrying the bit is dropped too", Hook::forward, "10.244.1.11", "10.244.1.10", kTcp, kEst,
     kBit, false},
    {"input: a pod to a node socket", Hook::input, "10.244.1.11", "192.168.0.1", kUdp, kEst, kBit,
     false},
    {"output: a node socket answering a pod", Hook::output, "192.168.0.1", "10.244.1.11", kUdp,
     kEst, kBit, false},
    {"output: unmarked", Hook::output, "192.168.0.1", "10.244.1.11", kUdp, kEst, 0, true},
};

TEST(Quarantine, DropsEveryPacketOfAMarkedConnection) {
  const nft::Program p = program();
  const nft::Program off = program({.quarantine_mark = 0});
  for (const Case& c : kCases) {
    std::string trace;
    const auto out = compiler::run(p, packet(c), true);
    for (const auto& line : out.trace) trace += line + "\n";
    EXPECT_EQ(out.accepted, c.accepted) << c.what << "\n" << trace;
    // Without the quarantine, established traffic passes whatever its mark.
    if (c.ct_state == kEst) {
      EXPECT_TRUE(compiler::run(off, packet(c)).accepted) << c.what;
    }
  }
}

// Revocation judges an entry by its first packet, which has no mark: the quarantine rule
// never decides a verdict revocation computes, so an entry in quarantine is judged by the
// policy alone (and released when the policy allows it again).
TEST(Quarantine, FirstPacketsAreJudgedAsWithoutIt) {
  const nft::Program p = program();
  const nft::Program off = program({.quarantine_mark = 0});
  const char* addresses[] = {"10.244.1.10", "10.244.1.11", "10.244.1.12", "10.244.2.10",
                             "192.168.0.1"};
  std::size_t denied = 0;
  for (Hook hook : {Hook::forward, Hook::input, Hook::output}) {
    for (const char* src : addresses) {
      for (const char* dst : addresses) {
        for (std::uint8_t proto : {kTcp, kUdp}) {
          Packet first = packet({"", hook, src, dst, proto, kNew, 0, true});
          first.tcp_flags = nft::kTcpSyn;
          const bool verdict = compiler::run(p, first).accepted;
          EXPECT_EQ(verdict, compiler::run(off, first).accepted) << src << " -> " << dst;
          denied += verdict ? 0 : 1;
        }
      }
    }
  }
  EXPECT_GT(denied, 0u);  // the grid does reach the policy's drops
}

}  // namespace
