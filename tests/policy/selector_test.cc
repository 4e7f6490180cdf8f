// policy/types: metav1.LabelSelector matching and its kubectl-style rendering.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/types.h"

namespace policy {
namespace {

using Op = LabelSelector::Op;

struct SelectorCase {
  const char* name;
  LabelSelector selector;
  Labels labels;
  bool matches;
};

LabelSelector labels_sel(Labels l) {
  LabelSelector s;
  s.match_labels = std::move(l);
  return s;
}

LabelSelector expr(std::string key, Op op, std::vector<std::string> values = {}) {
  LabelSelector s;
  s.match_expressions.push_back({std::move(key), op, std::move(values)});
  return s;
}

TEST(LabelSelectorTest, MatchesTable) {
  LabelSelector both = labels_sel({{"app", "web"}});
  both.match_expressions.push_back({"tier", Op::kIn, {"front", "edge"}});
  LabelSelector two_exprs = expr("env", Op::kExists);
  two_exprs.match_expressions.push_back({"legacy", Op::kDoesNotExist, {}});

  const SelectorCase cases[] = {
      // API (LabelSelector): "An empty label selector matches all objects."
      {"empty matches empty labels", LabelSelector{}, {}, true},
      {"empty matches anything", LabelSelector{}, {{"a", "b"}}, true},
      // API: "matchLabels is a map of {key,value} pairs ... the requirements are ANDed."
      {"matchLabels equal", labels_sel({{"app", "web"}}), {{"app", "web"}, {"x", "y"}}, true},
      {"matchLabels other value", labels_sel({{"app", "web"}}), {{"app", "db"}}, false},
      {"matchLabels missing key", labels_sel({{"app", "web"}}), {{"x", "web"}}, false},
      {"matchLabels all of two",
       labels_sel({{"a", "1"}, {"b", "2"}}),
       {{"a", "1"}, {"b", "2"}},
       true},
      {"matchLabels only one of two", labels_sel({{"a", "1"}, {"b", "2"}}), {{"a", "1"}}, false},
      {"matchLabels empty value", labels_sel({{"a", ""}}), {{"a", ""}}, true},
      {"matchLabels empty value vs missing", labels_sel({{"a", ""}}), {}, false},
      // API: "operator represents a key's relationship to a set of values. Valid operators
      // are In, NotIn, Exists and DoesNotExist."
      {"In member", expr("tier", Op::kIn, {"a", "b"}), {{"tier", "b"}}, true},
      {"In not member", expr("tier", Op::kIn, {"a", "b"}), {{"tier", "c"}}, false},
      {"In missing key", expr("tier", Op::kIn, {"a"}), {}, false},
      {"NotIn member", expr("tier", Op::kNotIn, {"a", "b"}), {{"tier", "a"}}, false},
      {"NotIn not member", expr("tier", Op::kNotIn, {"a", "b"}), {{"tier", "c"}}, true},
      // apimachinery: a missing key satisfies NotIn ("!=" semantics of label requirements).
      {"NotIn missing key", expr("tier", Op::kNotIn, {"a"}), {{"other", "a"}}, true},
      {"Exists present", expr("tier", Op::kExists), {{"tier", ""}}, true},
      {"Exists absent", expr("tier", Op::kExists), {{"tiers", "x"}}, false},
      {"DoesNotExist absent", expr("tier", Op::kDoesNotExist), {{"x", "y"}}, true},
      {"DoesNotExist present", expr("tier", Op::kDoesNotExist), {{"tier", "x"}}, false},
      // matchLabels and matchExpressions: "All of them must be satisfied" (ANDed).
      {"AND both hold", both, {{"app", "web"}, {"tier", "edge"}}, true},
      {"AND labels fail", both, {{"app", "db"}, {"tier", "edge"}}, false},
      {"AND expression fails", both, {{"app", "web"}, {"tier", "back"}}, false},
      {"two expressions hold", two_exprs, {{"env", "x"}}, true},
      {"two expressions second fails", two_exprs, {{"env", "x"}, {"legacy", "1"}}, false},
      {"two expressions first fails", two_exprs, {}, false},
      {"keys are case-sensitive", labels_sel({{"App", "web"}}), {{"app", "web"}}, false},
      {"values are case-sensitive", labels_sel({{"app", "Web"}}), {{"app", "web"}}, false},
      {"prefixed key",
       labels_sel({{"kubernetes.io/metadata.name", "prod"}}),
       {{"kubernetes.io/metadata.name", "prod"}},
       true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.selector.matches(c.labels), c.matches) << c.selector.str();
  }
}

TEST(LabelSelectorTest, EmptyIsEmpty) {
  EXPECT_TRUE(LabelSelector{}.empty());
  EXPECT_FALSE(labels_sel({{"a", "b"}}).empty());
  EXPECT_FALSE(expr("a", Op::kExists).empty());
}

TEST(LabelSelectorTest, StrTable) {
  LabelSelector mixed = labels_sel({{"b", "2"}, {"a", "1"}});
  mixed.match_expressions.push_back({"tier", Op::kNotIn, {"x", "y"}});
  mixed.match_expressions.push_back({"env", Op::kExists, {}});
  const std::pair<LabelSelector, const char*> cases[] = {
      {LabelSelector{}, "(all)"},
      {labels_sel({{"app", "web"}}), "app=web"},
      {mixed, "a=1, b=2, tier notin (x, y), env"},
      {expr("tier", Op::kIn, {"a", "b"}), "tier in (a, b)"},
      {expr("tier", Op::kNotIn, {"a"}), "tier notin (a)"},
      {expr("tier", Op::kExists), "tier"},
      {expr("tier", Op::kDoesNotExist), "!tier"},
  };
  for (const auto& [sel, want] : cases) EXPECT_EQ(sel.str(), want);
}

TEST(ProtocolTest, ParseIsCaseSensitive) {
  EXPECT_EQ(parse_protocol("TCP"), Protocol::kTCP);
  EXPECT_EQ(parse_protocol("UDP"), Protocol::kUDP);
  EXPECT_EQ(parse_protocol("SCTP"), Protocol::kSCTP);
  for (const char* bad : {"tcp", "Tcp", "udp", "sctp", "ICMP", "", "TCP "}) {
    EXPECT_FALSE(parse_protocol(bad)) << bad;
  }
  EXPECT_STREQ(to_string(Protocol::kSCTP), "SCTP");
  EXPECT_STREQ(to_string(Direction::kEgress), "egress");
}

TEST(IpBlockTest, CidrMinusExcept) {
  IpBlock b{.cidr = common::Cidr::parse("10.0.0.0/8")->cidr,
            .except = {common::Cidr::parse("10.1.0.0/16")->cidr},
            .cidr_text = "10.0.0.0/8"};
  EXPECT_TRUE(b.contains(*common::IpAddr::parse("10.0.0.1")));
  EXPECT_FALSE(b.contains(*common::IpAddr::parse("10.1.2.3")));
  EXPECT_TRUE(b.contains(*common::IpAddr::parse("10.2.0.0")));
  EXPECT_FALSE(b.contains(*common::IpAddr::parse("11.0.0.0")));
  EXPECT_FALSE(b.contains(*common::IpAddr::parse("::ffff:10.0.0.1")));
}

}  // namespace
}  // namespace policy
