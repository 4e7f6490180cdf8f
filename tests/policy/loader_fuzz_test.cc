// Randomized (deterministic) robustness tests for the loader: mutated manifests must never
// crash or throw across Loader::add_text (STYLE.md rule 6: errors are values), and every
// problem must come back as a diagnostic with a message. Plus the hostile inputs that found
// problems, as targeted tests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

namespace policy {
namespace {

const char* kSeedPolicyYaml = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: prod
spec:
  podSelector:
    matchLabels: {app: web}
    matchExpressions:
    - {key: tier, operator: In, values: [a, b]}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
      namespaceSelector: {}
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
    ports:
    - {protocol: TCP, port: 8000, endPort: 8080}
    - {port: http}
  egress:
  - to: [{ipBlock: {cidr: 'fd00::/64'}}]
    ports: [{protocol: UDP, port: 53}]
)";

const char* kSeedClusterYaml = R"(---
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {team: a}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
spec:
  hostNetwork: false
  containers:
  - name: c
    ports: [{name: http, containerPort: 8080}, {containerPort: 53, protocol: UDP}]
  initContainers:
  - {name: s, restartPolicy: Always, ports: [{containerPort: 9000}]}
status: {phase: Running, podIP: 10.0.0.1, podIPs: [{ip: 10.0.0.1}, {ip: 'fd00::1'}]}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Service, metadata: {name: s}}
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: d}, spec: {}}
)";

const char* kSeedPolicyJson = R"({
  "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
  "metadata": {"name": "db", "namespace": "prod"},
  "spec": {
    "podSelector": {"matchLabels": {"app": "db"}},
    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}],
                 "ports": [{"port": 5432}, {"protocol": "SCTP"}]}],
    "egress": [{"to": [{"podSelector": {}}]}]
  }
})";

const char* kSeedPodJson = R"({"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "Pod",
   "metadata": {"name": "db", "namespace": "prod", "labels": {"app": "db"},
                "deletionTimestamp": "2024-01-01T00:00:00Z"},
   "spec": {"containers": [{"name": "db", "ports": [{"name": "sql", "containerPort": 5432}]}]},
   "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.2"}]}}]})";

struct Seed {
  const char* text;
  const char* name;
};
const Seed kSeeds[] = {
    {kSeedPolicyYaml, "policy.yaml"},
    {kSeedClusterYaml, "cluster.yml"},
    {kSeedPolicyJson, "policy.json"},
    {kSeedPodJson, "pods.json"},
};

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  size_t below(size_t n) { return n == 0 ? 0 : rng_() % n; }

  void mutate(std::string& s) {
    switch (below(11)) {
      case 0:  // flip a byte to anything
        if (!s.empty()) s[below(s.size())] = static_cast<char>(below(256));
        break;
      case 1:  // truncate
        s.resize(below(s.size() + 1));
        break;
      case 2:    // duplicate a line
      case 3:    // delete a line
      case 4: {  // swap two lines
        auto lines = split(s);
        if (lines.empty()) break;
        const size_t i = below(lines.size());
        const size_t j = below(lines.size());
        if (below(3) == 0) {
          std::swap(lines[i], lines[j]);
        } else if (below(2) == 0) {
          lines.insert(lines.begin() + static_cast<long>(i), lines[i]);
        } else {
          lines.erase(lines.begin() + static_cast<long>(i));
        }
        s = join(lines);
        break;
      }
      case 5: {  // deep nesting
        const size_t depth = 1 + below(250);
        const size_t at = below(s.size() + 1);
        const char* open[] = {"[", "{a: ", "- ", "{\"a\": "};
        std::string ins;
        const char* o = open[below(4)];
        for (size_t i = 0; i < depth; ++i) ins += o;
        if (below(2)) ins += std::string(depth, o[0] == '[' ? ']' : '}');
        s.insert(at, ins);
        break;
      }
      case 6:  // a number where one was, or a huge one
        replace_value(s, pick({"99999999999999999999999",
                               "-9223372036854775809",
                               "4294967296",
                               "2147483648",
                               "-1",
                               "0",
                               "1e3",
                               "1e999",
                               "-1e999",
                               "1e-999",
                               "0x50",
                               "0o17",
                               ".inf",
                               "-.inf",
                               ".nan",
                               "1.5",
                               "+80",
                               "007",
                               "65536",
                               "-0"}));
        break;
      case 7:  // a value of the wrong type
        replace_value(s, pick({"[]", "{}", "true", "false", "null", "~", "\"x\"", "'80'", "42",
                               "[1, 2]", "{a: 1}", "\"\"", "!!str 5", "&a x", "*a"}));
        break;
      case 8:  // insert YAML/JSON syntax
        s.insert(below(s.size() + 1),
                 pick({":",        "- ",    "{",           "}",    "[",
                       "]",        "'",     "\"",          "\t",   "\n",
                       "---\n",    "...\n", "&a ",         "*a",   "!!binary ",
                       "<<: *a\n", "? ",    "#",           "\\",   ",",
                       "|\n",      ">\n",   "%YAML 1.2\n", "\r\n", std::string(1, '\0')}));
        break;
      case 9:  // invalid or unusual UTF-8
        s.insert(below(s.size() + 1), pick({"\xff", "\xc3\x28", "\xe2\x82", "\xf0\x9f\x98\x80",
                                            "\xef\xbb\xbf", "\xed\xa0\x80", "\xc0\xaf"}));
        break;
      case 10: {  // repeat a chunk
        if (s.empty()) break;
        const size_t at = below(s.size());
        const size_t len = 1 + below(std::min<size_t>(40, s.size() - at));
        const std::string chunk = s.substr(at, len);
        for (size_t i = 0, n = 1 + below(20); i < n; ++i) s.insert(at, chunk);
        break;
      }
    }
  }

 private:
  std::string pick(std::initializer_list<std::string> options) {
    auto it = options.begin();
    std::advance(it, static_cast<long>(below(options.size())));
    return *it;
  }
  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
      const size_t nl = s.find('\n', start);
      if (nl == std::string::npos) {
        out.push_back(s.substr(start));
        break;
      }
      out.push_back(s.substr(start, nl - start));
      start = nl + 1;
    }
    return out;
  }
  static std::string join(const std::vector<std::string>& lines) {
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" : "") + lines[i];
    return out;
  }
  // Replaces the token after a random ": " with `v`.
  void replace_value(std::string& s, const std::string& v) {
    std::vector<size_t> at;
    for (size_t p = s.find(": "); p != std::string::npos; p = s.find(": ", p + 1)) at.push_back(p);
    if (at.empty()) return;
    const size_t start = at[below(at.size())] + 2;
    size_t end = start;
    while (end < s.size() && std::string_view(",}]\n").find(s[end]) == std::string_view::npos) {
      ++end;
    }
    s.replace(start, end - start, v);
  }

  std::mt19937 rng_;
};

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 300)) {
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

TEST(LoaderFuzzTest, SeedsAreValid) {
  for (const auto& seed : kSeeds) {
    const auto r = testing::load(seed.text, seed.name);
    EXPECT_TRUE(r.ok()) << seed.name << "\n" << testing::all_errors(r);
    EXPECT_GT(r.cluster.policies.size() + r.cluster.pods.size(), 0u) << seed.name;
  }
}

TEST(LoaderFuzzTest, MutatedInputNeverThrowsAndAlwaysExplains) {
  Mutator m(20240501);
  constexpr int kIterations = 3000;
  int thrown = 0;
  std::string first_throw;
  std::map<std::string, int> kinds;  // what() without the details, for the failure message
  for (int i = 0; i < kIterations; ++i) {
    const Seed& seed = kSeeds[m.below(std::size(kSeeds))];
    std::string text = seed.text;
    for (size_t n = 1 + m.below(3); n > 0; --n) m.mutate(text);
    // Mostly the seed's own format; sometimes JSON read as YAML and YAML as JSON.
    std::string name = seed.name;
    if (m.below(10) == 0) name = name.ends_with(".json") ? "x.yaml" : "x.json";
    try {
      Loader loader;
      loader.add_text(text, name);
      const LoadResult r = std::move(loader).finish();
      for (const auto& d : r.errors) {
        ASSERT_FALSE(d.error.message.empty()) << d.str() << "\ninput: " << printable(text);
        ASSERT_FALSE(d.source.empty()) << d.str();
        ASSERT_FALSE(d.str().empty());
      }
      for (const auto& d : r.warnings) ASSERT_FALSE(d.error.message.empty()) << d.str();
      // Whatever was loaded is a usable cluster.
      for (const auto& p : r.cluster.pods) ASSERT_TRUE(r.cluster.namespaces.count(p.namespace_));
    } catch (const std::exception& e) {
      ++kinds[std::string(e.what()).substr(0, 40)];
      if (thrown++ == 0) first_throw = std::string(e.what()) + "\ninput: " + printable(text);
    } catch (...) {
      if (thrown++ == 0) first_throw = "unknown exception\ninput: " + printable(text);
    }
  }
  std::string summary;
  for (const auto& [what, n] : kinds) summary += "  " + std::to_string(n) + "x " + what + "\n";
  EXPECT_EQ(thrown, 0) << thrown << " of " << kIterations
                       << " inputs threw out of Loader::add_text:\n"
                       << summary << "the first: " << first_throw;
}

TEST(LoaderFuzzTest, NoOpMutationsKeepValidInputValid) {
  Mutator m(7);
  for (int i = 0; i < 200; ++i) {
    const Seed& seed = kSeeds[m.below(std::size(kSeeds))];
    const bool json = std::string_view(seed.name).ends_with(".json");
    std::string text = seed.text;
    // Trailing whitespace, a trailing newline, a comment or a document end (YAML only).
    const char* yaml_tail[] = {"\n", "\n\n", "   \n", "# comment\n", "\n---\n"};
    const char* json_tail[] = {"\n", " ", "\t\n", "\r\n"};
    text += json ? json_tail[m.below(std::size(json_tail))] : yaml_tail[m.below(5)];
    const auto base = testing::load(seed.text, seed.name);
    const auto r = testing::load(text, seed.name);
    ASSERT_TRUE(r.ok()) << printable(text) << "\n" << testing::all_errors(r);
    EXPECT_EQ(r.cluster.policies.size(), base.cluster.policies.size());
    EXPECT_EQ(r.cluster.pods.size(), base.cluster.pods.size());
    EXPECT_EQ(r.cluster.namespaces.size(), base.cluster.namespaces.size());
  }
}

// --- inputs the fuzzer (or a hostile manifest) turns up ---

// Loads `text`; an exception escaping the loader is a test failure (and gives nullopt).
std::optional<LoadResult> load_no_throw(const std::string& text,
                                        const std::string& name = "test.yaml") {
  try {
    return testing::load(text, name);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "exception escaped Loader::add_text: " << e.what();
  }
  return std::nullopt;
}

// nlohmann::json::dump() throws type_error 316 on invalid UTF-8; error messages quote values.
TEST(LoaderHostileInputTest, InvalidUtf8InAnErrorMessageDoesNotThrow) {
  const std::pair<const char*, const char*> cases[] = {
      {"ingress: [{from: [{ipBlock: {cidr: \"10.0.0.0/8\xff\"}}]}]",
       "spec.ingress[0].from[0].ipBlock.cidr"},
      {"ingress: \"\xffx\"", "spec.ingress"},
      {"podSelector: {matchLabels: {app: [\"\xc3\x28\"]}}", "spec.podSelector.matchLabels[app]"},
  };
  for (const auto& [spec, field] : cases) {
    SCOPED_TRACE(field);
    const auto r = load_no_throw(testing::np_doc("ns", "p", spec));
    if (!r) continue;
    EXPECT_NE(testing::find_error(*r, field, ""), nullptr) << testing::all_errors(*r);
  }
}

// A plain scalar beyond the range of double ("1e999") or of int64 must be an error value, not
// a std::out_of_range escaping from std::stod; and it is a number, never a port *name*.
TEST(LoaderHostileInputTest, OutOfRangeNumbersAreNumbers) {
  for (const char* number :
       {"1e999", "-1e999", "1e-999", "99999999999999999999999", "-99999999999999999999999"}) {
    SCOPED_TRACE(number);
    const auto r = load_no_throw(
        testing::np_doc("ns", "p", std::string("ingress: [{ports: [{port: ") + number + "}]}]"));
    if (!r) continue;
    const auto* e = testing::find_error(*r, "spec.ingress[0].ports[0].port", "");
    ASSERT_NE(e, nullptr) << testing::all_errors(*r);
    EXPECT_FALSE(testing::contains(e->error.message, "15 characters")) << e->str();
    EXPECT_FALSE(testing::contains(e->error.message, "must contain")) << e->str();
    EXPECT_TRUE(r->cluster.policies.empty());
  }
}

// Each case runs in a child process: a crash or a hang fails the test without taking the
// whole binary down. alarm() bounds the time (and so the memory) a child may use.
void load_in_child(const std::string& text, const std::string& name, unsigned seconds) {
  ::alarm(seconds);
  const auto r = testing::load(text, name);
  ::_exit(r.errors.empty() ? 1 : 0);  // each input below is invalid and must say so
}

TEST(LoaderHostileInputTest, VeryLongNumberDoesNotOverflowTheStack) {
  // A 200,000-digit plain scalar: std::regex in libstdc++ recurses once per character.
  const std::string doc =
      testing::np_doc("ns", "p", "ingress: [{ports: [{port: " + std::string(200000, '7') + "}]}]");
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(load_in_child(doc, "long.yaml", 10), ::testing::ExitedWithCode(0), "");
}

TEST(LoaderHostileInputTest, AliasExpansionIsBounded) {
  // "Billion laughs": 600 bytes of YAML that expand to 10^9 nodes. sigs.k8s.io/yaml (go-yaml)
  // rejects such documents ("excessive aliasing"); the loader must not take minutes and
  // gigabytes to expand them.
  std::string doc = "apiVersion: v1\nkind: ConfigMap\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 8; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    doc += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int j = 1; j < 10; ++j) doc += ", " + prev;
    doc += "]\n";
  }
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(load_in_child(doc, "bomb.yaml", 2), ::testing::ExitedWithCode(0), "");
}

// The YAML reader rejects documents nested deeper than its limit. JSON must not crash either:
// neither in parsing nor in quoting a deep value in an error message.
TEST(LoaderHostileInputTest, DeepNestingIsAnError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (const char* name : {"deep.yaml", "deep.json"}) {
    SCOPED_TRACE(name);
    const size_t depth = 100000;
    const std::string in_field =
        "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"x\"}, "
        "\"spec\": " +
        std::string(depth, '[') + std::string(depth, ']') + "}";
    EXPECT_EXIT(load_in_child(in_field, name, 10), ::testing::ExitedWithCode(0), "");
    const std::string top = std::string(depth, '[') + std::string(depth, ']');
    EXPECT_EXIT(load_in_child(top, name, 10), ::testing::ExitedWithCode(0), "");
  }
}

// yaml-cpp 0.7's LoadAll never returns on these (found by libFuzzer): each "document" starts
// where the last one did. They must be errors, and fast.
TEST(LoaderHostileInputTest, StreamsThatStallTheYamlParserAreErrors) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (const char* text : {",+", ",\xff\xff-", "a: 1\n---\n,+\n"}) {
    SCOPED_TRACE(text);
    EXPECT_EXIT(load_in_child(text, "stall.yaml", 5), ::testing::ExitedWithCode(0), "");
  }
}

}  // namespace
}  // namespace policy
