// scope_of_change: which flows a change of program can have affected, table-driven over
// compiled programs (pods joining peer sets on either end, isolation, port changes,
// relabelling, deletions, dual-stack) and hand-made programs for the "everything" cases.
#include "conntrack/scope.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace {

using conntrack::Scope;
using conntrack::scope_of_change;
using conntrack_test::ip;
using conntrack_test::pod;
using conntrack_test::policy;

// n1: a and d (app=a, sharing a-in's chain), b, c (dual-stack, egress to app=s on 80);
// n2: r (app=r), s (app=s).
const std::string kPods =
    pod("x", "a", "n1", "10.244.1.1", "app: a") + pod("x", "d", "n1", "10.244.1.4", "app: a") +
    pod("x", "b", "n1", "10.244.1.2", "app: b") +
    pod("x", "c", "n1", "10.244.1.3,fd00::3", "app: c") +
    pod("x", "r", "n2", "10.244.2.1", "app: r") + pod("x", "s", "n2", "10.244.2.2", "app: s");
const std::string kAIn =
    policy("x", "a-in",
           "podSelector: {matchLabels: {app: a}}, ingress: [{from: [{podSelector: {matchLabels: "
           "{app: r}}}]}]");
const std::string kCOut = policy(
    "x", "c-out",
    "podSelector: {matchLabels: {app: c}}, policyTypes: [Egress], egress: [{to: [{podSelector: "
    "{matchLabels: {app: s}}}], ports: [{port: 80}]}]");
const std::string kBase = kPods + kAIn + kCOut;
// b admits app=s: the app=s set is then used by an ingress chain AND by an egress chain.
const std::string kBIn =
    policy("x", "b-in",
           "podSelector: {matchLabels: {app: b}}, ingress: [{from: [{podSelector: {matchLabels: "
           "{app: s}}}]}]");

struct Case {
  const char* what;
  std::string before;
  std::string after;
  Scope want;
  compiler::Options after_options = {};
};

std::string replace(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

std::vector<Case> cases() {
  const auto a = ip("10.244.1.1"), b = ip("10.244.1.2"), c = ip("10.244.1.3"), c6 = ip("fd00::3"),
             d = ip("10.244.1.4");
  return {
      {"nothing changed", kBase, kBase, Scope{}},
      {"a remote pod joins a peer set of an ingress chain: its pods, as destinations", kBase,
       kBase + pod("x", "r2", "n2", "10.244.2.3", "app: r"), Scope{.destinations = {a, d}}},
      {"a remote pod joins a peer set of an egress chain: its pods, as sources", kBase,
       kBase + pod("x", "s2", "n2", "10.244.2.4", "app: s"), Scope{.sources = {c, c6}}},
      {"a peer set used both ways: each chain's pods on their own side", kBase + kBIn,
       kBase + kBIn + pod("x", "s2", "n2", "10.244.2.4", "app: s"),
       Scope{.sources = {c, c6}, .destinations = {b}}},
      {"a pod of this node joins a peer set: found from the other end", kBase,
       kBase + pod("x", "e", "n1", "10.244.1.5", "app: r"), Scope{.destinations = {a, d}}},
      {"a new policy isolates a pod", kBase, kBase + kBIn, Scope{.destinations = {b}}},
      {"a dual-stack pod becomes isolated for ingress", kBase,
       kBase + policy("x", "c-in", "podSelector: {matchLabels: {app: c}}"),
       Scope{.destinations = {c, c6}}},
      {"a policy's ports change: every pod of the chain", kBase,
       replace(kBase, "{app: r}}}]}]", "{app: r}}}], ports: [{port: 443}]}]"),
       Scope{.destinations = {a, d}}},
      {"a pod relabelled into another chain", kBase,
       replace(kBase, "name: b, namespace: x, labels: {app: b}",
               "name: b, namespace: x, labels: {app: a}"),
       Scope{.destinations = {b}}},
      {"a pod deleted", kBase, replace(kBase, pod("x", "d", "n1", "10.244.1.4", "app: a"), ""),
       Scope{.destinations = {d}}},
      {"a pod of another node changes nothing here", kBase,
       replace(kBase, "name: r, namespace: x, labels: {app: r}",
               "name: r, namespace: x, labels: {app: r, tier: x}"),
       Scope{}},
      {"the base chains change (node traffic judged): everything",
       kBase,
       kBase,
       Scope::all(),
       {.allow_node_traffic = false}},
  };
}

TEST(ScopeOfChange, CompiledPrograms) {
  for (const Case& c : cases()) {
    const nft::Program before = conntrack_test::compile(c.before, "n1");
    const nft::Program after = conntrack_test::compile(c.after, "n1", c.after_options);
    const Scope got = scope_of_change(before, after);
    EXPECT_EQ(got.everything, c.want.everything) << c.what;
    EXPECT_EQ(got.sources, c.want.sources) << c.what;
    EXPECT_EQ(got.destinations, c.want.destinations) << c.what;
    // The scope is symmetric in what it finds: undoing the change touches the same flows.
    EXPECT_EQ(scope_of_change(after, before), got) << c.what << " (reversed)";
  }
}

// Hand-made programs: a base chain that looks things up other than by exact address.
using namespace nft;

Program base_with(std::vector<Rule> rules) {
  Program p;
  p.put(Chain{.name = "fwd", .base = BaseChain{.hook = Hook::forward}, .rules = std::move(rules)});
  p.put(Set{.name = "cidrs", .type = {.key = {KeyType::ipv4_addr}, .interval = true}});
  p.put(Set{.name = "ports",
            .type = {.key = {KeyType::inet_proto, KeyType::inet_service}, .interval = true}});
  p.put(Set{.name = "hosts", .type = {.key = {KeyType::ipv4_addr}}});
  p.put(Chain{.name = "sub", .rules = {Rule{.statement = Verdict::drop()}}});
  return p;
}

TEST(ScopeOfChange, WhatCannotBeNarrowedIsEverything) {
  const Program cidr =
      base_with({Rule{.matches = {AddrSetMatch{.set = "cidrs"}}, .statement = Verdict::drop()}});
  Program cidr2 = cidr;
  cidr2.sets.at("cidrs").elements.insert(Element::prefix("10.0.0.0/8").value());
  EXPECT_TRUE(scope_of_change(cidr, cidr2).everything);

  const Program ports =
      base_with({Rule{.matches = {PortSetMatch{.set = "ports"}}, .statement = Verdict::drop()}});
  Program ports2 = ports;
  ports2.sets.at("ports").elements.insert(Element::proto_port(kProtoTcp, 22));
  EXPECT_TRUE(scope_of_change(ports, ports2).everything);

  const Program jump = base_with({Rule{.statement = Verdict::jump("sub")}});
  Program jump2 = jump;
  jump2.chains.at("sub").rules.insert(jump2.chains.at("sub").rules.begin(),
                                      Rule{.statement = Verdict::accept()});
  EXPECT_TRUE(scope_of_change(jump, jump2).everything);

  Program renamed = jump;
  renamed.table = "other";
  EXPECT_TRUE(scope_of_change(jump, renamed).everything);
}

TEST(ScopeOfChange, ExactAddressSetsInBaseChainsGiveTheirElements) {
  const Rule lookup{.matches = {AddrSetMatch{.field = Addr::daddr, .set = "hosts"}},
                    .statement = Verdict::drop()};
  Program p = base_with({lookup});
  Program q = p;
  q.sets.at("hosts").elements.insert(Element::ipv4("10.0.0.7").value());
  EXPECT_EQ(scope_of_change(p, q), (Scope{.destinations = {ip("10.0.0.7")}}));
  // A rule no first packet can match (the mid-stream guard's) adds nothing.
  Rule guard = lookup;
  guard.matches.insert(guard.matches.begin(),
                       TcpFlagsMatch{.mask = kTcpSyn | kTcpAck, .value = kTcpSyn, .negate = true});
  p = base_with({guard});
  q = p;
  q.sets.at("hosts").elements.insert(Element::ipv4("10.0.0.7").value());
  EXPECT_TRUE(scope_of_change(p, q).empty());
  // Nor does one that needs a ct mark bit (a first packet has none) …
  Rule marked = lookup;
  marked.matches.insert(marked.matches.begin(),
                        nft::CtMarkMatch{.mask = 0x00800000, .value = 0x00800000});
  p = base_with({marked});
  q = p;
  q.sets.at("hosts").elements.insert(Element::ipv4("10.0.0.7").value());
  EXPECT_TRUE(scope_of_change(p, q).empty());
  // … but one that needs the bit clear does.
  marked.matches.front() = nft::CtMarkMatch{.mask = 0x00800000, .value = 0};
  p = base_with({marked});
  q = p;
  q.sets.at("hosts").elements.insert(Element::ipv4("10.0.0.7").value());
  EXPECT_EQ(scope_of_change(p, q), (Scope{.destinations = {ip("10.0.0.7")}}));
}

}  // namespace
