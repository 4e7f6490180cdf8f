// The shared conformance cases (../shared/cases, format in SCHEMA.md there) as C++ values,
// for every harness that runs them: the dry-run CLI gate, the compiler's interpreter tests
// and the kernel e2e. Test support code: a malformed case file throws std::runtime_error.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace cases {

using json = nlohmann::json;

struct PortDecl {
  std::string name;  // may be empty
  int port = 0;
  std::string protocol = "TCP";
};

struct CasePod {
  std::string ns;
  std::string name;
  std::string node;
  std::vector<std::string> ips;  // "ip", or "ips" for dual-stack cases
  json labels = json::object();
  std::vector<PortDecl> ports;

  std::string key() const { return ns + "/" + name; }
};

struct External {
  std::string name;
  std::string ip;
  std::vector<PortDecl> ports;
};

using Pair = std::pair<std::string, std::string>;  // (from, to) as "ns/name"

// Every ordered pair of distinct pods is judged: pairs in `deny` are blocked, the rest connect.
// `family` ("IPv4" or "IPv6") picks the address of dual-stack pods; empty means each pod's
// first IP ("ip", or "ips"[0]), which is what single-stack cases use.
struct Probe {
  int port = 0;
  std::string protocol = "TCP";
  std::set<Pair> deny;
  std::string family;
};

struct ExternalProbe {
  std::string from;  // a pod key or an external name
  std::string to;
  int port = 0;
  std::string protocol = "TCP";
  bool allowed = false;
};

struct Step {
  std::string name;
  std::map<std::string, json> pod_labels;        // full replacement label maps, by "ns/name"
  std::map<std::string, json> namespace_labels;  // by namespace name
  json policies = json::array();
  std::vector<Probe> probes;
  std::vector<ExternalProbe> external_probes;
};

struct Case {
  std::string name;
  std::string file;
  std::map<std::string, json> namespaces;  // name -> initial labels
  std::vector<CasePod> pods;               // in file order
  std::vector<External> external;
  std::vector<Step> steps;

  const CasePod* find_pod(const std::string& key) const;
  const External* find_external(const std::string& name) const;
  // Sorted pod keys ("ns/name"), the row and column order of truth tables.
  std::vector<std::string> pod_keys() const;
};

Case load_case(const std::string& path);
// Every *.json case below `dir` (recursively), sorted; INDEX files and SCHEMA are not cases.
std::vector<std::string> case_files(const std::string& dir);

// Labels as they stand after some steps: changes replace full label maps and accumulate.
class CaseState {
 public:
  explicit CaseState(const Case& c);
  void apply(const Step& step);

  const json& pod_labels(const std::string& key) const { return pod_labels_.at(key); }
  const json& namespace_labels(const std::string& ns) const { return ns_labels_.at(ns); }

  // A `v1 List` of Namespaces, Pods (spec.nodeName, container ports, status.podIP(s),
  // phase Running) and the given NetworkPolicies: what `kubectl get -o json` would show.
  json manifests(const json& policies) const;

 private:
  const Case* case_;
  std::map<std::string, json> pod_labels_;
  std::map<std::string, json> ns_labels_;
};

// An upstream-style truth table: rows are sources, columns destinations, "." connects,
// "X" blocked, "-" self; cells where `got` differs from `want` are marked with "!".
std::string truth_table(const std::vector<std::string>& pods, const std::set<Pair>& want_denied,
                        const std::set<Pair>& got_denied);

}  // namespace cases
