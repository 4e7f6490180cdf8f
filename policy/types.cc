#include "policy/types.h"

#include <algorithm>

namespace policy {

const char* to_string(Protocol p) {
  switch (p) {
    case Protocol::kTCP:
      return "TCP";
    case Protocol::kUDP:
      return "UDP";
    case Protocol::kSCTP:
      return "SCTP";
  }
  return "?";
}

std::optional<Protocol> parse_protocol(std::string_view s) {
  // The API is case-sensitive: "tcp" is rejected by the API server.
  if (s == "TCP") return Protocol::kTCP;
  if (s == "UDP") return Protocol::kUDP;
  if (s == "SCTP") return Protocol::kSCTP;
  return std::nullopt;
}

const char* to_string(Direction d) {
  return d == Direction::kIngress ? "ingress" : "egress";
}

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& r : match_expressions) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    const bool in_values =
        has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    switch (r.op) {
      case Op::kIn:
        if (!in_values) return false;
        break;
      case Op::kNotIn:  // a missing key satisfies NotIn, as in apimachinery
        if (in_values) return false;
        break;
      case Op::kExists:
        if (!has) return false;
        break;
      case Op::kDoesNotExist:
        if (has) return false;
        break;
    }
  }
  return true;
}

namespace {
std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}
}  // namespace

std::string LabelSelector::str() const {
  if (empty()) return "(all)";
  std::vector<std::string> parts;
  for (const auto& [k, v] : match_labels) parts.push_back(k + "=" + v);
  for (const auto& r : match_expressions) {
    switch (r.op) {
      case Op::kIn:
        parts.push_back(r.key + " in (" + join(r.values) + ")");
        break;
      case Op::kNotIn:
        parts.push_back(r.key + " notin (" + join(r.values) + ")");
        break;
      case Op::kExists:
        parts.push_back(r.key);
        break;
      case Op::kDoesNotExist:
        parts.push_back("!" + r.key);
        break;
    }
  }
  return join(parts);
}

bool IpBlock::contains(const common::IpAddr& ip) const {
  if (!cidr.contains(ip)) return false;
  return std::none_of(except.begin(), except.end(),
                      [&](const common::Cidr& e) { return e.contains(ip); });
}

}  // namespace policy
