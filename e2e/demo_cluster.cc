#include "demo_cluster.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "policy/yaml_json.h"

namespace demo {

namespace {

using json = nlohmann::json;

std::vector<json> read_objects(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file);
  std::stringstream text;
  text << in.rdbuf();
  auto docs = policy::yaml_to_json(text.str());
  if (!docs.error.empty()) throw std::runtime_error(file + ": " + docs.error);
  std::vector<json> out;
  for (auto& doc : docs.docs) {
    if (doc.is_object() && doc.value("kind", "") == "List") {
      for (auto& item : doc.value("items", json::array())) out.push_back(item);
    } else if (doc.is_object()) {
      out.push_back(doc);
    }
  }
  return out;
}

std::string text_of(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

ExamplePod pod_of(const json& obj) {
  const json& meta = obj.at("metadata");
  const json spec = obj.value("spec", json::object());
  const json status = obj.value("status", json::object());
  ExamplePod p{.ns = text_of(meta, "namespace"),
               .name = text_of(meta, "name"),
               .node = text_of(spec, "nodeName"),
               .ip = text_of(status, "podIP"),
               .labels = meta.value("labels", json::object()),
               .host_network = spec.value("hostNetwork", false),
               .phase = text_of(status, "phase")};
  p.key = p.ns + "/" + p.name;
  for (const auto& c : spec.value("containers", json::array())) {
    for (const auto& port : c.value("ports", json::array())) {
      p.ports.push_back({.name = text_of(port, "name"),
                         .port = port.value("containerPort", 0),
                         .protocol = port.value("protocol", std::string("TCP"))});
    }
  }
  return p;
}

// What `kubectl apply` gets: no status, no server-set metadata (resourceVersion, uid).
json written_object(const json& obj) {
  const json& meta = obj.at("metadata");
  json m = {{"name", meta.at("name")}};
  if (meta.contains("namespace")) m["namespace"] = meta["namespace"];
  if (meta.contains("labels")) m["labels"] = meta["labels"];
  json out = {{"apiVersion", "v1"}, {"kind", obj.at("kind")}, {"metadata", m}};
  if (obj.value("kind", "") == "Pod") out["spec"] = obj.at("spec");
  return out;
}

json status_object(const json& obj) {
  const json& meta = obj.at("metadata");
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", meta.at("name")}, {"namespace", meta.at("namespace")}}},
          {"status", obj.value("status", json::object())}};
}

// The first word of the name ("web" of "web-7c9d8-abcde"); where two pods share it, with the
// last word too ("web-abcde").
void assign_short_names(std::vector<ExamplePod>& pods) {
  auto first = [](const std::string& n) { return n.substr(0, n.find('-')); };
  std::map<std::string, int> uses;
  for (const auto& p : pods) uses[first(p.name)]++;
  for (auto& p : pods) {
    p.short_name = first(p.name);
    if (uses[p.short_name] > 1 && p.name.find('-') != std::string::npos)
      p.short_name += p.name.substr(p.name.rfind('-'));
  }
}

}  // namespace

bool ExamplePod::serves(int port, const std::string& protocol) const {
  return std::any_of(ports.begin(), ports.end(), [&](const cases::PortDecl& d) {
    return d.port == port && d.protocol == protocol;
  });
}

std::string ExamplePod::ports_text() const {
  std::string out;
  for (const auto& d : ports) {
    out += (out.empty() ? "" : ", ") + (d.name.empty() ? "" : d.name + " ") +
           std::to_string(d.port) + "/" + d.protocol;
  }
  return out;
}

const ExamplePod& ExampleCluster::pod(const std::string& key) const {
  for (const auto& p : pods) {
    if (p.key == key) return p;
  }
  throw std::runtime_error("examples/cluster.yaml has no pod " + key);
}

std::vector<const ExamplePod*> ExampleCluster::running() const {
  std::vector<const ExamplePod*> out;
  for (const auto& p : pods) {
    if (p.runs()) out.push_back(&p);
  }
  return out;
}

std::string ExampleCluster::harness_node(const std::string& node) const {
  const auto it = std::find(nodes.begin(), nodes.end(), node);
  if (it == nodes.end()) throw std::runtime_error("unknown node " + node);
  return "n" + std::to_string(it - nodes.begin() + 1);
}

ExampleCluster load_example_cluster(const std::string& file) {
  ExampleCluster ex;
  std::set<std::string> nodes;
  for (const auto& obj : read_objects(file)) {
    const std::string kind = obj.value("kind", "");
    if (kind != "Namespace" && kind != "Pod") continue;
    ex.objects.push_back(written_object(obj));
    if (kind == "Namespace") continue;
    ex.statuses.push_back(status_object(obj));
    ExamplePod p = pod_of(obj);
    if (p.node.empty()) throw std::runtime_error(p.key + " has no spec.nodeName");
    if (p.runs() && p.ip.empty()) throw std::runtime_error(p.key + " has no status.podIP");
    nodes.insert(p.node);
    const std::string host_ip = text_of(obj.value("status", json::object()), "hostIP");
    if (!host_ip.empty()) ex.host_ips[p.node] = host_ip;
    ex.pods.push_back(std::move(p));
  }
  if (nodes.size() != 2)
    throw std::runtime_error(file + ": the demo builds two nodes; the pods are on " +
                             std::to_string(nodes.size()));
  ex.nodes.assign(nodes.begin(), nodes.end());
  std::sort(ex.pods.begin(), ex.pods.end(),
            [](const ExamplePod& a, const ExamplePod& b) { return a.key < b.key; });
  assign_short_names(ex.pods);
  return ex;
}

cases::Case harness_case(const ExampleCluster& ex, const std::set<std::string>& not_served) {
  cases::Case c{.name = "examples"};
  for (const auto& p : ex.pods) {
    if (!p.runs()) continue;
    c.namespaces[p.ns] = json::object();
    cases::CasePod cp{.ns = p.ns,
                      .name = p.name,
                      .node = ex.harness_node(p.node),
                      .ips = {p.ip},
                      .labels = p.labels};
    for (const auto& d : p.ports) {
      const std::string id = p.key + " " + std::to_string(d.port) + "/" + d.protocol;
      if (!not_served.count(id) && d.protocol != "SCTP") cp.ports.push_back(d);
    }
    c.pods.push_back(std::move(cp));
  }
  return c;
}

}  // namespace demo
