#include "policy/explain.h"

#include <nlohmann/json.hpp>

namespace policy {
namespace {

std::string flow_str(const Flow& f) {
  std::string s = f.src.str();
  if (f.src.pod && f.src.ip) s += " (" + f.src.ip->str() + ")";
  s += " -> " + f.dst.str();
  if (f.dst.pod && f.dst.ip) s += " (" + f.dst.ip->str() + ")";
  return s + " " + to_string(f.protocol) + "/" + std::to_string(f.port);
}

std::string side_text(const Cluster& c, const SideVerdict& s, const std::string& who) {
  const char* dir = to_string(s.direction);
  std::string out = "  " + std::string(dir) + " of " + who + ": " +
                    (s.allowed ? "allowed" : "DENIED") + " — " + s.summary + "\n";
  for (const auto& key : s.isolating) {
    const NetworkPolicy* np = c.find_policy(key);
    const size_t n = np ? np->rules(s.direction).size() : 0;
    if (n == 0) {
      out += "    - " + key + " has no " + dir + " rules: it isolates the pod and admits nothing\n";
      continue;
    }
    for (const auto& r : s.rules) {
      if (r.policy != key) continue;
      out += std::string("    ") + (r.matched ? "+ " : "- ") + key + " spec." + dir + "[" +
             std::to_string(r.rule) + "]: " + r.reason + "\n";
    }
  }
  return out;
}

nlohmann::json side_json(const SideVerdict& s) {
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& r : s.rules) {
    nlohmann::json jr = {
        {"policy", r.policy}, {"rule", r.rule}, {"matched", r.matched}, {"reason", r.reason}};
    if (r.peer >= 0) jr["peer"] = r.peer;
    if (r.port >= 0) jr["port"] = r.port;
    rules.push_back(std::move(jr));
  }
  return {{"allowed", s.allowed},
          {"isolated", s.isolated},
          {"isolating_policies", s.isolating},
          {"rules", rules},
          {"summary", s.summary}};
}

}  // namespace

std::string explain_text(const Cluster& c, const Flow& flow, const Verdict& v) {
  std::string out = std::string(v.allowed ? "ALLOWED" : "DENIED") + ": " + flow_str(flow) + "\n";
  out += side_text(c, v.egress, flow.src.str());
  out += side_text(c, v.ingress, flow.dst.str());
  if (!v.allowed) {
    out += "  => traffic needs BOTH the source's egress and the destination's ingress to allow it";
    out += "; ";
    out += !v.egress.allowed && !v.ingress.allowed ? "neither does"
           : !v.egress.allowed                     ? "egress of " + flow.src.str() + " does not"
                                                   : "ingress of " + flow.dst.str() + " does not";
    out += "\n";
  }
  return out;
}

nlohmann::json verdict_json(const Cluster&, const Flow& flow, const Verdict& v) {
  auto ep = [](const Endpoint& e) {
    nlohmann::json j = {{"name", e.str()}};
    if (e.pod) j["pod"] = e.pod->key();
    if (e.ip) j["ip"] = e.ip->str();
    return j;
  };
  return {{"allowed", v.allowed},
          {"from", ep(flow.src)},
          {"to", ep(flow.dst)},
          {"port", flow.port},
          {"protocol", to_string(flow.protocol)},
          {"egress", side_json(v.egress)},
          {"ingress", side_json(v.ingress)}};
}

}  // namespace policy
