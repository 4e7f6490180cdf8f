#include "policy/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <regex>

namespace policy {
namespace {

using json = nlohmann::json;

// Deeper documents are rejected rather than risking the stack on hostile input.
constexpr int kMaxDepth = 64;

struct TooDeep {};

json plain_scalar(const std::string& s) {
  static const std::regex kInt(R"([-+]?[0-9]+)");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (std::regex_match(s, kInt)) {
    try {
      return std::stoll(s);
    } catch (const std::out_of_range&) {
      return s;  // too large for an integer field; the field check reports it
    }
  }
  if (std::regex_match(s, kFloat)) return std::stod(s);
  return s;
}

json convert(const YAML::Node& n, int depth) {
  if (depth > kMaxDepth) throw TooDeep{};
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // "!" marks a quoted (non-plain) scalar, which is always a string.
      return n.Tag() == "!" ? json(n.Scalar()) : plain_scalar(n.Scalar());
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : n) out.push_back(convert(item, depth + 1));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) throw YAML::Exception(kv.first.Mark(), "map key is not a scalar");
        out[kv.first.Scalar()] = convert(kv.second, depth + 1);
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
    for (const auto& doc : YAML::LoadAll(std::string(text))) out.docs.push_back(convert(doc, 0));
  } catch (const YAML::Exception& e) {
    out.docs.clear();  // a stream that fails to parse is not trusted in part
    out.error =
        "YAML: " + (e.mark.is_null() ? e.msg
                                     : "line " + std::to_string(e.mark.line + 1) + ", column " +
                                           std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const TooDeep&) {
    out.docs.clear();
    out.error = "YAML: nested more than " + std::to_string(kMaxDepth) + " levels deep";
  }
  return out;
}

}  // namespace policy
