// Rendering to nft syntax: golden text for whole programs and transactions, and one
// table-driven case per match and statement.
#include "nft/render.h"

#include <gtest/gtest.h>

#include "golden.h"
#include "nft/diff.h"
#include "test_programs.h"

namespace nft {
namespace {

using testing::cidr;
using testing::rule;
using testing::small_program;
using testing::v4;

struct RuleCase {
  std::string name;
  Rule rule;
  std::string text;
};

class RenderRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(RenderRuleTest, Text) {
  EXPECT_EQ(render_rule(GetParam().rule), GetParam().text);
}

Rule counted(Rule r, std::string comment) {
  r.counter = true;
  r.comment = std::move(comment);
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RenderRuleTest,
    ::testing::Values(
        RuleCase{"accept", rule({}, Verdict::accept()), "accept"},
        RuleCase{"jump", rule({}, Verdict::jump("pod-a")), "jump pod-a"},
        RuleCase{"goto", rule({}, Verdict::goto_("pod-a")), "goto pod-a"},
        RuleCase{"ct_state",
                 rule({CtStateMatch{.states = kCtEstablished | kCtRelated}}, Verdict::accept()),
                 "ct state established,related accept"},
        RuleCase{
            "ct_state_not",
            rule({CtStateMatch{.states = kCtInvalid | kCtNew, .negate = true}}, Verdict::drop()),
            "ct state != invalid,new drop"},
        RuleCase{"nfproto", rule({NfprotoMatch{.family = Family::ipv6}}, Verdict::return_()),
                 "meta nfproto ipv6 return"},
        RuleCase{"l4proto_one", rule({L4protoMatch{.protocols = {6}}}, Verdict::accept()),
                 "meta l4proto tcp accept"},
        RuleCase{
            "l4proto_set",
            rule({L4protoMatch{.protocols = {132, 17, 6, 47}, .negate = true}}, Verdict::drop()),
            "meta l4proto != { tcp, udp, 47, sctp } drop"},
        RuleCase{"saddr", rule({AddrSetMatch{.set = "s"}}, Verdict::accept()),
                 "ip saddr @s accept"},
        RuleCase{
            "ip6_daddr_not",
            rule({AddrSetMatch{
                     .family = Family::ipv6, .field = Addr::daddr, .set = "s6", .negate = true}},
                 Verdict::drop()),
            "ip6 daddr != @s6 drop"},
        RuleCase{"ports", rule({PortSetMatch{.set = "p"}}, Verdict::return_()),
                 "meta l4proto . th dport @p return"},
        RuleCase{"ports_not", rule({PortSetMatch{.set = "p", .negate = true}}, Verdict::drop()),
                 "meta l4proto . th dport != @p drop"},
        RuleCase{"fib", rule({FibLocalMatch{}}, Verdict::accept()), "fib saddr type local accept"},
        RuleCase{"fib_not",
                 rule({FibLocalMatch{.field = Addr::daddr, .negate = true}}, Verdict::accept()),
                 "fib daddr type != local accept"},
        RuleCase{"tcp_midstream",
                 rule({TcpFlagsMatch{.mask = kTcpFin | kTcpSyn | kTcpRst | kTcpAck,
                                     .value = kTcpSyn,
                                     .negate = true}},
                      Verdict::drop()),
                 "tcp flags & (fin | syn | rst | ack) != syn drop"},
        RuleCase{"tcp_single",
                 rule({TcpFlagsMatch{.mask = kTcpSyn, .value = kTcpSyn}}, Verdict::accept()),
                 "tcp flags & syn == syn accept"},
        RuleCase{"tcp_zero",
                 rule({TcpFlagsMatch{.mask = kTcpSyn | kTcpAck, .value = 0}}, Verdict::accept()),
                 "tcp flags & (syn | ack) == 0 accept"},
        RuleCase{"tcp_multi_value",
                 rule({TcpFlagsMatch{.mask = kTcpSyn | kTcpAck, .value = kTcpSyn | kTcpAck}},
                      Verdict::accept()),
                 "tcp flags & (syn | ack) == (syn | ack) accept"},
        RuleCase{
            "ct_mark_quarantine",
            counted(rule({CtMarkMatch{.mask = 0x00800000, .value = 0x00800000}}, Verdict::drop()),
                    "revoked connection"),
            "ct mark & 0x00800000 == 0x00800000 counter drop comment \"revoked connection\""},
        RuleCase{
            "ct_mark_not",
            rule({CtMarkMatch{.mask = 0xff00, .value = 0x1200, .negate = true}}, Verdict::accept()),
            "ct mark & 0x0000ff00 != 0x00001200 accept"},
        RuleCase{"ct_mark_zero",
                 rule({CtMarkMatch{.mask = 0xffffffff, .value = 0}}, Verdict::accept()),
                 "ct mark & 0xffffffff == 0x00000000 accept"},
        RuleCase{"iifname", rule({IfnameMatch{.name = "eth0"}}, Verdict::accept()),
                 "iifname \"eth0\" accept"},
        RuleCase{"oifname_not",
                 rule({IfnameMatch{.iface = Iface::oifname, .name = "lo", .negate = true}},
                      Verdict::accept()),
                 "oifname != \"lo\" accept"},
        RuleCase{"vmap", rule({}, VmapDispatch{.map = "in4"}), "ip daddr vmap @in4"},
        RuleCase{"vmap6_saddr",
                 rule({}, VmapDispatch{.family = Family::ipv6, .field = Addr::saddr, .map = "e6"}),
                 "ip6 saddr vmap @e6"},
        RuleCase{
            "counter_comment",
            counted(rule({AddrSetMatch{.set = "s"}, PortSetMatch{.set = "p"}}, Verdict::return_()),
                    "ns/policy"),
            "ip saddr @s meta l4proto . th dport @p counter return comment \"ns/policy\""},
        RuleCase{"counter_vmap", counted(rule({}, VmapDispatch{.map = "m"}), ""),
                 "counter ip daddr vmap @m"}),
    [](const auto& info) { return info.param.name; });

struct ElementCase {
  std::string name;
  SetType type;
  Element element;
  std::string text;
};

class RenderElementTest : public ::testing::TestWithParam<ElementCase> {};

TEST_P(RenderElementTest, Text) {
  EXPECT_EQ(render_element(GetParam().type, GetParam().element), GetParam().text);
}

const SetType kV4{.key = {KeyType::ipv4_addr}, .interval = true};
const SetType kV6{.key = {KeyType::ipv6_addr}, .interval = true};
const SetType kPP{.key = {KeyType::inet_proto, KeyType::inet_service}, .interval = true};
const SetType kAPP{.key = {KeyType::ipv4_addr, KeyType::inet_proto, KeyType::inet_service},
                   .interval = true};

Element concat(Bytes key, Bytes end) {
  return Element{.key = std::move(key), .key_end = std::move(end)};
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RenderElementTest,
    ::testing::Values(
        ElementCase{"v4", kV4, v4("10.0.0.1"), "10.0.0.1"},
        ElementCase{"v4_prefix", kV4, cidr("10.0.0.0/8"), "10.0.0.0/8"},
        ElementCase{"v4_all", kV4, cidr("0.0.0.0/0"), "0.0.0.0/0"},
        ElementCase{"v4_range", kV4, testing::range("10.0.0.1", "10.0.0.6"), "10.0.0.1-10.0.0.6"},
        ElementCase{"v4_aligned_non_prefix", kV4, testing::range("10.0.0.0", "10.0.0.2"),
                    "10.0.0.0-10.0.0.2"},
        ElementCase{"v6_prefix", kV6, cidr("fd00::/64"), "fd00::/64"},
        ElementCase{"v6_range", kV6, testing::range("2001:db8::1", "2001:db8::5"),
                    "2001:db8::1-2001:db8::5"},
        ElementCase{"proto_port", kPP, Element::proto_port(6, 80), "tcp . 80"},
        ElementCase{"proto_port_other", kPP, Element::proto_port(47, 0), "47 . 0"},
        ElementCase{"proto_port_range", kPP, Element::proto_port_range(17, 1000, 2000),
                    "udp . 1000-2000"},
        ElementCase{"three_fields", kAPP,
                    concat({10, 0, 0, 0, 6, 0, 0, 0, 0, 80, 0, 0},
                           {10, 255, 255, 255, 6, 0, 0, 0, 0, 81, 0, 0}),
                    "10.0.0.0/8 . tcp . 80-81"},
        ElementCase{"map_jump", SetType{.key = {KeyType::ipv4_addr}, .verdict_map = true},
                    v4("10.0.0.1").with(Verdict::jump("pod-x")), "10.0.0.1 : jump pod-x"},
        ElementCase{"wrong_size_is_hex", kV4, Element{.key = {1, 2}}, "0x0102"}),
    [](const auto& info) { return info.param.name; });

TEST(RenderTest, BaseChainPriorities) {
  EXPECT_EQ(render_base_chain(BaseChain{}),
            "type filter hook forward priority filter; policy accept;");
  EXPECT_EQ(render_base_chain(BaseChain{.hook = Hook::input, .priority = 10}),
            "type filter hook input priority filter + 10; policy accept;");
  EXPECT_EQ(render_base_chain(
                BaseChain{.hook = Hook::output, .priority = -5, .policy = ChainPolicy::drop}),
            "type filter hook output priority filter - 5; policy drop;");
}

TEST(RenderTest, EmptyProgram) {
  EXPECT_EQ(render(Program{}), "table inet nftpolicy {\n}\n");
}

TEST(RenderTest, SmallProgramGolden) {
  testing::expect_golden("small_program.nft", render(small_program()));
}

TEST(RenderTest, Deterministic) {
  EXPECT_EQ(render(small_program()), render(small_program()));
  Program copy = small_program();
  EXPECT_EQ(render(copy), render(small_program()));
}

TEST(RenderTest, CreateTransactionGolden) {
  testing::expect_golden("small_program_create.nft", render(diff(Program{}, small_program())));
}

TEST(RenderTest, EveryOpKind) {
  SetType v4_type{.key = {KeyType::ipv4_addr}, .interval = true};
  SetType map{.key = {KeyType::ipv4_addr}, .verdict_map = true};
  Transaction tx{.table = "t",
                 .ops = {op::AddTable{}, op::FlushChain{"c"},
                         op::DeleteElements{"m", map, {v4("10.0.0.1").with(Verdict::drop())}},
                         op::DeleteChain{"d"}, op::DeleteSet{"s", v4_type}, op::DeleteSet{"m", map},
                         op::AddChain{"c2"}, op::AddChain{"b", BaseChain{}},
                         op::AddSet{"s", v4_type}, op::AddSet{"m", map},
                         op::AddElements{"s", v4_type, {cidr("10.0.0.0/8"), v4("11.0.0.1")}},
                         op::AddElements{"s", v4_type, {}},
                         op::AddRule{"c2", rule({AddrSetMatch{.set = "s"}}, Verdict::accept())},
                         op::DeleteTable{}}};
  EXPECT_EQ(render(tx),
            "add table inet t\n"
            "flush chain inet t c\n"
            "delete element inet t m { 10.0.0.1 }\n"
            "delete chain inet t d\n"
            "delete set inet t s\n"
            "delete map inet t m\n"
            "create chain inet t c2\n"
            "create chain inet t b { type filter hook forward priority filter; policy accept; }\n"
            "create set inet t s { type ipv4_addr; flags interval; }\n"
            "create map inet t m { type ipv4_addr : verdict; }\n"
            "create element inet t s { 10.0.0.0/8, 11.0.0.1 }\n"
            "# create element inet t s { }\n"
            "add rule inet t c2 ip saddr @s accept\n"
            "delete table inet t\n");
}

}  // namespace
}  // namespace nft
