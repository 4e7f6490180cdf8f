// validate(): what the kernel and `nft -f` would refuse, with the kernel's category.
#include "nft/validate.h"

#include <gtest/gtest.h>

#include <functional>

#include "nft/names.h"
#include "test_programs.h"

namespace nft {
namespace {

using testing::rule;
using testing::small_program;
using testing::v4;

TEST(ValidateTest, SmallProgramIsValid) {
  Status s = validate(small_program());
  EXPECT_TRUE(s.is_ok()) << s.error().to_string();
  EXPECT_TRUE(validate(Program{}).is_ok());
}

struct BreakCase {
  std::string name;
  std::function<void(Program&)> edit;
  Errc code;
};

class ValidateBreakTest : public ::testing::TestWithParam<BreakCase> {};

TEST_P(ValidateBreakTest, Rejected) {
  Program p = small_program();
  GetParam().edit(p);
  Status s = validate(p);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.error().code, GetParam().code) << s.error().to_string();
}

Set& set(Program& p, const std::string& name) {
  return p.sets.at(name);
}
Chain& chain(Program& p, const std::string& name) {
  return p.chains.at(name);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ValidateBreakTest,
    ::testing::Values(
        BreakCase{"keyword_table", [](Program& p) { p.table = "filter"; }, Errc::invalid},
        BreakCase{"keyword_chain", [](Program& p) { p.put(Chain{.name = "fwd"}); }, Errc::invalid},
        BreakCase{"bad_chars", [](Program& p) { p.put(Chain{.name = "a b"}); }, Errc::invalid},
        BreakCase{"name_mismatch", [](Program& p) { p.chains["x-1"] = Chain{.name = "x-2"}; },
                  Errc::invalid},
        BreakCase{
            "wrong_key_size",
            [](Program& p) { set(p, "pods-v4").elements.insert(Element::ipv6("fd00::1").value()); },
            Errc::invalid},
        BreakCase{
            "key_end_without_interval",
            [](Program& p) { set(p, "pods-v4").elements.insert(testing::cidr("10.9.0.0/16")); },
            Errc::invalid},
        BreakCase{"key_end_equal_key",
                  [](Program& p) {
                    set(p, "peers-v4")
                        .elements.insert(
                            Element{.key = {1, 1, 1, 1}, .key_end = Bytes{1, 1, 1, 1}});
                  },
                  Errc::invalid},
        BreakCase{
            "inverted_interval",
            [](Program& p) {
              set(p, "ports-web").elements.insert(Element::proto_port_range(kProtoUdp, 100, 90));
            },
            Errc::invalid},
        BreakCase{"overlap", [](Program& p) { set(p, "peers-v4").elements.insert(v4("10.1.2.3")); },
                  Errc::overlap},
        BreakCase{
            "overlap_concat",
            [](Program& p) {
              set(p, "ports-web").elements.insert(Element::proto_port_range(kProtoTcp, 8080, 8443));
            },
            Errc::overlap},
        BreakCase{"verdict_in_set",
                  [](Program& p) {
                    set(p, "pods-v4").elements.insert(v4("10.9.9.9").with(Verdict::drop()));
                  },
                  Errc::invalid},
        BreakCase{"map_without_verdict",
                  [](Program& p) { set(p, "ingress-v4").elements.insert(v4("10.9.9.9")); },
                  Errc::invalid},
        BreakCase{
            "map_jump_missing",
            [](Program& p) {
              set(p, "ingress-v4").elements.insert(v4("10.9.9.9").with(Verdict::jump("nope")));
            },
            Errc::not_found},
        BreakCase{
            "map_jump_base",
            [](Program& p) {
              set(p, "ingress-v4").elements.insert(v4("10.9.9.9").with(Verdict::jump("forward")));
            },
            Errc::unsupported},
        BreakCase{"rule_missing_set",
                  [](Program& p) {
                    chain(p, "pod-a")
                        .rules.push_back(rule({AddrSetMatch{.set = "nope"}}, Verdict::accept()));
                  },
                  Errc::not_found},
        BreakCase{"rule_wrong_family",
                  [](Program& p) {
                    chain(p, "pod-a")
                        .rules.push_back(
                            rule({AddrSetMatch{.family = Family::ipv6, .set = "pods-v4"}},
                                 Verdict::accept()));
                  },
                  Errc::invalid},
        BreakCase{"ports_wrong_type",
                  [](Program& p) {
                    chain(p, "pod-a")
                        .rules.push_back(rule({PortSetMatch{.set = "pods-v4"}}, Verdict::accept()));
                  },
                  Errc::invalid},
        BreakCase{"vmap_on_set",
                  [](Program& p) {
                    chain(p, "forward").rules.push_back(rule({}, VmapDispatch{.map = "pods-v4"}));
                  },
                  Errc::invalid},
        BreakCase{"jump_missing",
                  [](Program& p) {
                    chain(p, "forward").rules.push_back(rule({}, Verdict::jump("nope")));
                  },
                  Errc::not_found},
        BreakCase{"loop",
                  [](Program& p) {
                    chain(p, "pod-b").rules.push_back(rule({}, Verdict::goto_("pod-a")));
                    chain(p, "pod-a").rules.push_back(rule({}, Verdict::jump("pod-b")));
                  },
                  Errc::loop},
        BreakCase{"loop_through_map",
                  [](Program& p) {
                    chain(p, "pod-a").rules.push_back(rule({}, VmapDispatch{.map = "ingress-v4"}));
                  },
                  Errc::loop},
        BreakCase{"ct_state_zero",
                  [](Program& p) {
                    chain(p, "pod-a").rules.push_back(rule({CtStateMatch{}}, Verdict::accept()));
                  },
                  Errc::invalid},
        BreakCase{"tcp_value_outside_mask",
                  [](Program& p) {
                    chain(p, "pod-a")
                        .rules.push_back(rule({TcpFlagsMatch{.mask = kTcpSyn, .value = kTcpAck}},
                                              Verdict::drop()));
                  },
                  Errc::invalid},
        BreakCase{"ct_mark_value_outside_mask",
                  [](Program& p) {
                    chain(p, "pod-a")
                        .rules.push_back(
                            rule({CtMarkMatch{.mask = 0x10, .value = 0x11}}, Verdict::drop()));
                  },
                  Errc::invalid},
        BreakCase{"ct_mark_no_mask",
                  [](Program& p) {
                    chain(p, "pod-a").rules.push_back(rule({CtMarkMatch{}}, Verdict::drop()));
                  },
                  Errc::invalid},
        BreakCase{"ifname_too_long",
                  [](Program& p) {
                    chain(p, "pod-a")
                        .rules.push_back(
                            rule({IfnameMatch{.name = "0123456789abcdef"}}, Verdict::drop()));
                  },
                  Errc::invalid},
        BreakCase{"conflicting_families",
                  [](Program& p) {
                    chain(p, "pod-a")
                        .rules.push_back(rule(
                            {NfprotoMatch{.family = Family::ipv6}, AddrSetMatch{.set = "pods-v4"}},
                            Verdict::drop()));
                  },
                  Errc::invalid},
        BreakCase{"conflicting_vmap_family",
                  [](Program& p) {
                    chain(p, "forward")
                        .rules.push_back(
                            rule({AddrSetMatch{.family = Family::ipv6, .set = "peers-v6"}},
                                 VmapDispatch{.map = "ingress-v4"}));
                  },
                  Errc::invalid},
        BreakCase{"tcp_flags_after_udp",
                  [](Program& p) {
                    chain(p, "pod-a")
                        .rules.push_back(rule({L4protoMatch{.protocols = {kProtoTcp, kProtoUdp}},
                                               TcpFlagsMatch{.mask = kTcpSyn, .value = kTcpSyn}},
                                              Verdict::drop()));
                  },
                  Errc::invalid},
        BreakCase{"comment_quote",
                  [](Program& p) {
                    Rule r = rule({}, Verdict::drop());
                    r.comment = "say \"hi\"";
                    chain(p, "pod-a").rules.push_back(r);
                  },
                  Errc::invalid}),
    [](const auto& info) { return info.param.name; });

TEST(ValidateTest, ProtocolContextsNftAccepts) {
  Program p = small_program();
  auto& rules = p.chains.at("pod-a").rules;
  rules.push_back(rule(
      {L4protoMatch{.protocols = {kProtoTcp}}, TcpFlagsMatch{.mask = kTcpSyn, .value = kTcpSyn}},
      Verdict::drop()));
  rules.push_back(rule({L4protoMatch{.protocols = {kProtoUdp}, .negate = true},
                        TcpFlagsMatch{.mask = kTcpSyn, .value = kTcpSyn}},
                       Verdict::drop()));
  rules.push_back(rule({NfprotoMatch{.family = Family::ipv4}, AddrSetMatch{.set = "pods-v4"}},
                       Verdict::drop()));
  rules.push_back(rule({L4protoMatch{.protocols = {kProtoUdp}}, PortSetMatch{.set = "ports-web"}},
                       Verdict::drop()));
  Status s = validate(p);
  EXPECT_TRUE(s.is_ok()) << s.error().to_string();
}

TEST(NamesTest, Keywords) {
  for (const char* word : {"fwd", "out", "tcp", "ip", "filter", "accept", "auto-merge"}) {
    EXPECT_TRUE(is_nft_keyword(word)) << word;
    EXPECT_FALSE(check_name(word).is_ok()) << word;
  }
  for (const char* name :
       {"nftpolicy", "pod-1a2b", "ingress-v4", "forward", "input", "output", "_x", "A-b_c"}) {
    EXPECT_TRUE(check_name(name).is_ok()) << name;
  }
  for (const char* name : {"", "1abc", "-x", "a.b", "a/b", "a b", "a\"b"}) {
    EXPECT_FALSE(check_name(name).is_ok()) << name;
  }
  EXPECT_FALSE(check_name(std::string(256, 'a')).is_ok());
  EXPECT_TRUE(check_name(std::string(255, 'a')).is_ok());
}

TEST(ReferencesTest, SmallProgram) {
  Program p = small_program();
  auto referrers = p.referrers_of(ObjectRef::chain("pod-a"));
  EXPECT_EQ(referrers,
            (std::vector<ObjectRef>{ObjectRef::set("ingress-v4"), ObjectRef::set("ingress-v6")}));
  EXPECT_EQ(p.referrers_of(ObjectRef::chain("pod-b")),
            (std::vector<ObjectRef>{ObjectRef::chain("output"), ObjectRef::set("ingress-v4")}));
  EXPECT_EQ(p.referrers_of(ObjectRef::set("ports-web")),
            (std::vector<ObjectRef>{ObjectRef::chain("pod-a")}));
  EXPECT_EQ(p.referenced_by(ObjectRef::chain("forward")),
            (std::vector<ObjectRef>{ObjectRef::set("ingress-v4"), ObjectRef::set("ingress-v6")}));
  EXPECT_TRUE(p.referrers_of(ObjectRef::chain("forward")).empty());
}

}  // namespace
}  // namespace nft
