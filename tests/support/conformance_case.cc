#include "conformance_case.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace cases {
namespace fs = std::filesystem;

namespace {

std::vector<PortDecl> parse_ports(const json& arr) {
  std::vector<PortDecl> out;
  for (const auto& p : arr) {
    out.push_back({.name = p.value("name", ""),
                   .port = p.at("port").get<int>(),
                   .protocol = p.value("protocol", "TCP")});
  }
  return out;
}

std::set<Pair> parse_pairs(const json& arr) {
  std::set<Pair> out;
  for (const auto& d : arr) out.emplace(d.at(0).get<std::string>(), d.at(1).get<std::string>());
  return out;
}

Step parse_step(const json& s) {
  Step step{.name = s.value("name", "step"), .policies = s.value("policies", json::array())};
  const json changes = s.value("changes", json::object());
  // Named, not iterated as temporaries: items() of a temporary dangles once the loop starts.
  const json pod_labels = changes.value("pod_labels", json::object());
  const json ns_labels = changes.value("namespace_labels", json::object());
  for (const auto& [k, v] : pod_labels.items()) step.pod_labels[k] = v;
  for (const auto& [k, v] : ns_labels.items()) step.namespace_labels[k] = v;
  for (const auto& p : s.value("probes", json::array())) {
    step.probes.push_back({.port = p.at("port").get<int>(),
                           .protocol = p.value("protocol", "TCP"),
                           .deny = parse_pairs(p.value("deny", json::array())),
                           .family = p.value("family", "")});
    const std::string& family = step.probes.back().family;
    if (!family.empty() && family != "IPv4" && family != "IPv6")
      throw std::runtime_error("probe family must be IPv4 or IPv6, not " + family);
  }
  for (const auto& p : s.value("external_probes", json::array())) {
    step.external_probes.push_back({.from = p.at("from"),
                                    .to = p.at("to"),
                                    .port = p.at("port").get<int>(),
                                    .protocol = p.value("protocol", "TCP"),
                                    .allowed = p.at("allowed").get<bool>()});
  }
  return step;
}

}  // namespace

const CasePod* Case::find_pod(const std::string& key) const {
  for (const auto& p : pods) {
    if (p.key() == key) return &p;
  }
  return nullptr;
}

const External* Case::find_external(const std::string& n) const {
  for (const auto& e : external) {
    if (e.name == n) return &e;
  }
  return nullptr;
}

std::vector<std::string> Case::pod_keys() const {
  std::vector<std::string> out;
  for (const auto& p : pods) out.push_back(p.key());
  std::sort(out.begin(), out.end());
  return out;
}

Case load_case(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  try {
    const json c = json::parse(in);
    Case out{.name = c.value("name", fs::path(path).stem().string()), .file = path};
    const json& cl = c.at("cluster");
    for (const auto& ns : cl.at("namespaces"))
      out.namespaces[ns.at("name")] = ns.value("labels", json::object());
    for (const auto& p : cl.at("pods")) {
      CasePod pod{.ns = p.at("namespace"),
                  .name = p.at("name"),
                  .node = p.value("node", ""),
                  .labels = p.value("labels", json::object()),
                  .ports = parse_ports(p.value("ports", json::array()))};
      if (p.contains("ips")) {
        pod.ips = p["ips"].get<std::vector<std::string>>();
      } else if (p.contains("ip")) {
        pod.ips.push_back(p["ip"]);
      }
      out.pods.push_back(std::move(pod));
    }
    for (const auto& e : cl.value("external", json::array())) {
      out.external.push_back({.name = e.at("name"),
                              .ip = e.at("ip"),
                              .ports = parse_ports(e.value("ports", json::array()))});
    }
    for (const auto& s : c.at("steps")) out.steps.push_back(parse_step(s));
    return out;
  } catch (const json::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

std::vector<std::string> case_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".json") out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

CaseState::CaseState(const Case& c) : case_(&c), ns_labels_(c.namespaces) {
  for (const auto& p : c.pods) pod_labels_[p.key()] = p.labels;
}

void CaseState::apply(const Step& step) {
  for (const auto& [k, v] : step.pod_labels) pod_labels_[k] = v;
  for (const auto& [k, v] : step.namespace_labels) ns_labels_[k] = v;
}

json CaseState::manifests(const json& policies) const {
  json items = json::array();
  for (const auto& [name, labels] : ns_labels_) {
    items.push_back({{"apiVersion", "v1"},
                     {"kind", "Namespace"},
                     {"metadata", {{"name", name}, {"labels", labels}}}});
  }
  for (const auto& p : case_->pods) {
    json ports = json::array();
    for (const auto& port : p.ports) {
      json cp = {{"containerPort", port.port}, {"protocol", port.protocol}};
      if (!port.name.empty()) cp["name"] = port.name;
      ports.push_back(cp);
    }
    json status = {{"phase", "Running"}};
    if (!p.ips.empty()) {
      status["podIP"] = p.ips.front();
      json ips = json::array();
      for (const auto& ip : p.ips) ips.push_back({{"ip", ip}});
      status["podIPs"] = ips;
    }
    items.push_back(
        {{"apiVersion", "v1"},
         {"kind", "Pod"},
         {"metadata", {{"name", p.name}, {"namespace", p.ns}, {"labels", pod_labels_.at(p.key())}}},
         {"spec",
          {{"nodeName", p.node}, {"containers", json::array({{{"name", "c"}, {"ports", ports}}})}}},
         {"status", status}});
  }
  for (const auto& np : policies) items.push_back(np);
  return {{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}};
}

std::string truth_table(const std::vector<std::string>& pods, const std::set<Pair>& want_denied,
                        const std::set<Pair>& got_denied) {
  std::string out = "from\\to";
  for (const auto& p : pods) out += "\t" + p;
  for (const auto& from : pods) {
    out += "\n" + from;
    for (const auto& to : pods) {
      if (from == to) {
        out += "\t-";
        continue;
      }
      const bool got = got_denied.count({from, to}) > 0;
      const bool want = want_denied.count({from, to}) > 0;
      out += std::string("\t") + (got ? "X" : ".") + (got != want ? "!" : "");
    }
  }
  return out + "\n(. connects, X blocked, ! differs from the expected table)\n";
}

}  // namespace cases
