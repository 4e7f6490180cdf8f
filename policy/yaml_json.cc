#include "policy/yaml_json.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace policy {
namespace {

using json = nlohmann::json;

// Deeper documents are rejected rather than risking the stack on hostile input.
constexpr int kMaxDepth = 64;

// Aliases can expand a small document exponentially ("billion laughs"). Without aliases a
// node takes at least a byte of text, so a budget linear in the input bounds the work and
// never refuses a real snapshot.
constexpr size_t kSpareNodes = 100'000;

struct TooDeep {};
struct TooLarge {};
struct Stuck {
  YAML::Mark mark;
};

// yaml-cpp 0.7 loops forever on some malformed streams (",+" is one, found by the fuzzer): the
// next document starts where the previous one did, and YAML::LoadAll never returns. A cheap
// event-only pass first makes sure every document moves the parser forward.
class ProgressCheck : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& m) override {
    if (started_ && m.pos == last_.pos) throw Stuck{m};
    started_ = true;
    last_ = m;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  bool started_ = false;
  YAML::Mark last_;
};

void check_progress(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  ProgressCheck check;
  while (parser.HandleNextDocument(check)) {
  }
}

// Number syntax of the YAML core schema, checked by hand: libstdc++'s std::regex recurses per
// character and overflowed the stack on a 100k-digit scalar.
bool is_int(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

bool is_float(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  const size_t e = s.find_first_of("eE");
  std::string_view mant = s.substr(0, e);
  if (e != std::string_view::npos && !is_int(s.substr(e + 1))) return false;
  const size_t dot = mant.find('.');
  const auto digits = [](std::string_view d) {
    return d.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (dot == std::string_view::npos) return !mant.empty() && digits(mant);
  const auto whole = mant.substr(0, dot), frac = mant.substr(dot + 1);
  return digits(whole) && digits(frac) && !(whole.empty() && frac.empty());
}

json plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (!is_int(s) && !is_float(s)) return s;
  // A number stays a number even out of range (as in the API server's decoder), so that a
  // field check rejects it: `port: 1e999` must not become the port *name* "1e999".
  try {
    if (is_int(s)) return std::stoll(s);
  } catch (const std::out_of_range&) {
  }
  const double d = std::strtod(s.c_str(), nullptr);  // +-HUGE_VAL or 0 out of range
  return std::isfinite(d) ? json(d) : json(d > 0 ? 1e308 : -1e308);
}

json convert(const YAML::Node& n, int depth, size_t& budget) {
  if (depth > kMaxDepth) throw TooDeep{};
  if (budget-- == 0) throw TooLarge{};
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // "!" marks a quoted (non-plain) scalar, which is always a string.
      return n.Tag() == "!" ? json(n.Scalar()) : plain_scalar(n.Scalar());
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : n) out.push_back(convert(item, depth + 1, budget));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) throw YAML::Exception(kv.first.Mark(), "map key is not a scalar");
        out[kv.first.Scalar()] = convert(kv.second, depth + 1, budget);
      }
      return out;
    }
  }
  return nullptr;
}

}  // namespace

YamlDocuments yaml_to_json(std::string_view text) {
  YamlDocuments out;
  try {
    size_t budget = text.size() + kSpareNodes;
    std::string copy(text);
    check_progress(copy);
    for (const auto& doc : YAML::LoadAll(copy)) {
      out.docs.push_back(convert(doc, 0, budget));
    }
  } catch (const YAML::Exception& e) {
    out.docs.clear();  // a stream that fails to parse is not trusted in part
    out.error =
        "YAML: " + (e.mark.is_null() ? e.msg
                                     : "line " + std::to_string(e.mark.line + 1) + ", column " +
                                           std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const Stuck& s) {
    out.error = "YAML: line " + std::to_string(s.mark.line + 1) + ", column " +
                std::to_string(s.mark.column + 1) +
                ": malformed stream, the parser cannot continue";
  } catch (const TooLarge&) {
    out.docs.clear();
    out.error = "YAML: expands to far more nodes than its size allows (alias expansion?)";
  } catch (const TooDeep&) {
    out.docs.clear();
    out.error = "YAML: nested more than " + std::to_string(kMaxDepth) + " levels deep";
  }
  return out;
}

}  // namespace policy
