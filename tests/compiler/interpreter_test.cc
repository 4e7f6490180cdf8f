// The interpreter follows the kernel's verdict rules; these tables pin them down on small
// hand-written programs.
#include "compiler/interpreter.h"

#include <gtest/gtest.h>

namespace {

using compiler::Packet;
using namespace nft;

common::IpAddr ip(const char* s) {
  return *common::IpAddr::parse(s);
}

Packet tcp(const char* src, const char* dst, std::uint16_t port) {
  return {.saddr = ip(src), .daddr = ip(dst), .l4proto = kProtoTcp, .dport = port};
}

Program base_program(std::vector<Rule> rules, ChainPolicy policy = ChainPolicy::accept) {
  Program p;
  p.put(Chain{.name = "fwd-chain", .base = BaseChain{.policy = policy}, .rules = std::move(rules)});
  return p;
}

Set addr_set(const char* name, std::vector<const char*> addrs, bool interval = false) {
  Set s{.name = name, .type = {.key = {KeyType::ipv4_addr}, .interval = interval}};
  for (const char* a : addrs) {
    s.elements.insert(std::string(a).find('/') != std::string::npos ? Element::prefix(a).value()
                                                                    : Element::ipv4(a).value());
  }
  return s;
}

TEST(Interpreter, BaseChainPolicyAppliesWhenNothingDecides) {
  EXPECT_TRUE(compiler::run(base_program({}), tcp("10.0.0.1", "10.0.0.2", 80)).accepted);
  EXPECT_FALSE(
      compiler::run(base_program({}, ChainPolicy::drop), tcp("10.0.0.1", "10.0.0.2", 80)).accepted);
}

TEST(Interpreter, NoBaseChainOnTheHookAccepts) {
  Packet p = tcp("10.0.0.1", "10.0.0.2", 80);
  p.hook = Hook::input;
  EXPECT_TRUE(compiler::run(base_program({Rule{.statement = Verdict::drop()}}), p).accepted);
}

TEST(Interpreter, AddressSetsMatchTheirFamilyOnly) {
  Program p = base_program({Rule{.matches = {AddrSetMatch{.field = Addr::saddr, .set = "s"}},
                                 .statement = Verdict::drop()}});
  p.put(addr_set("s", {"10.0.0.0/24"}, true));
  EXPECT_FALSE(compiler::run(p, tcp("10.0.0.9", "10.1.0.2", 80)).accepted);
  EXPECT_TRUE(compiler::run(p, tcp("10.0.1.9", "10.1.0.2", 80)).accepted);
  EXPECT_TRUE(compiler::run(p, tcp("fd00::1", "fd00::2", 80)).accepted);
  // Negated lookups do not match other families either: `ip saddr != @s` implies ipv4.
  std::get<AddrSetMatch>(p.chains.at("fwd-chain").rules[0].matches[0]).negate = true;
  EXPECT_TRUE(compiler::run(p, tcp("fd00::1", "fd00::2", 80)).accepted);
  EXPECT_FALSE(compiler::run(p, tcp("10.0.1.9", "10.1.0.2", 80)).accepted);
}

TEST(Interpreter, PortSetsAreConcatenatedIntervals) {
  Program p =
      base_program({Rule{.matches = {PortSetMatch{.set = "ports"}}, .statement = Verdict::drop()}});
  p.put(Set{.name = "ports",
            .type = {.key = {KeyType::inet_proto, KeyType::inet_service}, .interval = true},
            .elements = {Element::proto_port_range(kProtoTcp, 80, 90),
                         Element::proto_port(kProtoUdp, 53)}});
  EXPECT_FALSE(compiler::run(p, tcp("10.0.0.1", "10.0.0.2", 80)).accepted);
  EXPECT_FALSE(compiler::run(p, tcp("10.0.0.1", "10.0.0.2", 90)).accepted);
  EXPECT_TRUE(compiler::run(p, tcp("10.0.0.1", "10.0.0.2", 91)).accepted);
  EXPECT_TRUE(compiler::run(p, tcp("10.0.0.1", "10.0.0.2", 53)).accepted);  // tcp, not udp
  Packet udp = tcp("10.0.0.1", "10.0.0.2", 53);
  udp.l4proto = kProtoUdp;
  EXPECT_FALSE(compiler::run(p, udp).accepted);
  Packet icmp = tcp("10.0.0.1", "10.0.0.2", 80);
  icmp.l4proto = 1;
  icmp.dport.reset();
  EXPECT_TRUE(compiler::run(p, icmp).accepted);
}

TEST(Interpreter, ReturnGoesBackToTheRuleAfterTheJump) {
  Program p =
      base_program({Rule{.statement = Verdict::jump("sub")}, Rule{.statement = Verdict::drop()}});
  p.put(Chain{
      .name = "sub",
      .rules = {Rule{.statement = Verdict::return_()}, Rule{.statement = Verdict::accept()}}});
  EXPECT_FALSE(compiler::run(p, tcp("10.0.0.1", "10.0.0.2", 80)).accepted);
  // The end of a regular chain is an implicit return, too.
  p.chains.at("sub").rules.clear();
  EXPECT_FALSE(compiler::run(p, tcp("10.0.0.1", "10.0.0.2", 80)).accepted);
  // accept in a jumped-to chain ends the hook.
  p.chains.at("sub").rules = {Rule{.statement = Verdict::accept()}};
  EXPECT_TRUE(compiler::run(p, tcp("10.0.0.1", "10.0.0.2", 80)).accepted);
}

TEST(Interpreter, GotoDoesNotComeBack) {
  Program p =
      base_program({Rule{.statement = Verdict::goto_("sub")}, Rule{.statement = Verdict::drop()}});
  p.put(Chain{.name = "sub"});
  EXPECT_TRUE(compiler::run(p, tcp("10.0.0.1", "10.0.0.2", 80)).accepted);  // base policy
}

TEST(Interpreter, VerdictMapDispatchesOrFallsThrough) {
  Program p = base_program({Rule{.statement = VmapDispatch{.field = Addr::daddr, .map = "m"}},
                            Rule{.statement = Verdict::accept()}});
  p.put(Set{.name = "m",
            .type = {.key = {KeyType::ipv4_addr}, .verdict_map = true},
            .elements = {Element::ipv4("10.0.0.2").value().with(Verdict::jump("deny"))}});
  p.put(Chain{.name = "deny", .rules = {Rule{.statement = Verdict::drop()}}});
  EXPECT_FALSE(compiler::run(p, tcp("10.0.0.1", "10.0.0.2", 80)).accepted);
  EXPECT_TRUE(compiler::run(p, tcp("10.0.0.1", "10.0.0.3", 80)).accepted);
  const auto out = compiler::run(p, tcp("10.0.0.1", "10.0.0.2", 80), true);
  ASSERT_EQ(out.trace.size(), 2u);
  EXPECT_EQ(out.trace[0], "fwd-chain#0: ip daddr vmap @m");
  EXPECT_EQ(out.trace[1], "deny#0: drop");
}

TEST(Interpreter, CtStateAndTcpFlags) {
  Program p = base_program(
      {Rule{.matches = {CtStateMatch{.states = kCtEstablished | kCtRelated | kCtUntracked}},
            .statement = Verdict::accept()},
       Rule{.matches = {TcpFlagsMatch{.mask = kTcpSyn | kTcpAck, .value = kTcpSyn}},
            .statement = Verdict::drop()}});
  Packet syn = tcp("10.0.0.1", "10.0.0.2", 80);
  EXPECT_FALSE(compiler::run(p, syn).accepted);
  Packet est = syn;
  est.ct_state = kCtEstablished;
  EXPECT_TRUE(compiler::run(p, est).accepted);
  Packet nd = syn;
  nd.ct_state = kCtUntracked;
  EXPECT_TRUE(compiler::run(p, nd).accepted);
  Packet ack = syn;
  ack.tcp_flags = kTcpAck;
  EXPECT_TRUE(compiler::run(p, ack).accepted);
}

}  // namespace
