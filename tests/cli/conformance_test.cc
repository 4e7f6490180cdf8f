// The conformance gate: every case of ../shared/cases (format in SCHEMA.md there, translated
// from the Kubernetes e2e network policy suite) is turned into manifests and run through
// `policy-dry-run matrix -o json` (and `eval -o json` for external probes), step by step.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "run_cli.h"

namespace {

using json = nlohmann::json;
using cli_test::dry_run;
using cli_test::shell_quote;
using cli_test::TempDir;
namespace fs = std::filesystem;

fs::path cases_dir() {
  if (const char* env = std::getenv("NFTPOLICY_CASES_DIR")) return env;
  return NFTPOLICY_CASES_DIR;
}

std::vector<std::string> case_files() {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(cases_dir(), ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().extension() == ".json") out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The cluster of a case as Kubernetes objects, with label changes applied so far.
struct CaseCluster {
  std::map<std::string, json> ns_labels;   // name -> labels
  std::map<std::string, json> pod_labels;  // ns/name -> labels
  json source;                             // case["cluster"]

  json manifests(const json& policies) const {
    json items = json::array();
    for (const auto& [name, labels] : ns_labels) {
      items.push_back({{"apiVersion", "v1"},
                       {"kind", "Namespace"},
                       {"metadata", {{"name", name}, {"labels", labels}}}});
    }
    for (const auto& p : source["pods"]) {
      const std::string key =
          p["namespace"].get<std::string>() + "/" + p["name"].get<std::string>();
      json ports = json::array();
      for (const auto& port : p.value("ports", json::array())) {
        json cp = {{"containerPort", port["port"]}, {"protocol", port.value("protocol", "TCP")}};
        if (port.contains("name")) cp["name"] = port["name"];
        ports.push_back(cp);
      }
      items.push_back(
          {{"apiVersion", "v1"},
           {"kind", "Pod"},
           {"metadata",
            {{"name", p["name"]}, {"namespace", p["namespace"]}, {"labels", pod_labels.at(key)}}},
           {"spec",
            {{"nodeName", p["node"]},
             {"containers", json::array({json{{"name", "c"}, {"ports", ports}}})}}},
           {"status", {{"phase", "Running"}, {"podIP", p["ip"]}}}});
    }
    for (const auto& np : policies) items.push_back(np);
    return {{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}};
  }
};

std::string pairs_table(const std::vector<std::string>& pods,
                        const std::set<std::pair<std::string, std::string>>& denied) {
  std::string out = "-";
  for (const auto& p : pods) out += "\t" + p;
  for (const auto& from : pods) {
    out += "\n" + from;
    for (const auto& to : pods)
      out += from == to ? "\t-" : denied.count({from, to}) ? "\tX" : "\t.";
  }
  return out + "\n";
}

class Conformance : public testing::TestWithParam<std::string> {};

TEST_P(Conformance, MatrixAgreesAtEveryStep) {
  std::ifstream in(GetParam());
  const json c = json::parse(in);
  CaseCluster cluster{.source = c["cluster"]};
  for (const auto& ns : c["cluster"]["namespaces"])
    cluster.ns_labels[ns["name"]] = ns.value("labels", json::object());
  for (const auto& p : c["cluster"]["pods"]) {
    cluster.pod_labels[p["namespace"].get<std::string>() + "/" + p["name"].get<std::string>()] =
        p.value("labels", json::object());
  }
  std::vector<std::string> pods;
  for (const auto& [key, _] : cluster.pod_labels) pods.push_back(key);
  TempDir tmp;
  for (const auto& step : c["steps"]) {
    const std::string name = step.value("name", "step");
    const json changes = step.value("changes", json::object());
    // `changes` replace the full label map of a pod or namespace and accumulate over steps.
    const json pod_changes = changes.value("pod_labels", json::object());
    const json ns_changes = changes.value("namespace_labels", json::object());
    for (const auto& [k, v] : pod_changes.items()) cluster.pod_labels[k] = v;
    for (const auto& [k, v] : ns_changes.items()) cluster.ns_labels[k] = v;
    const auto file =
        tmp.write(name + "/cluster.json", cluster.manifests(step["policies"]).dump(2));
    for (const auto& probe : step["probes"]) {
      const std::string proto = probe.value("protocol", "TCP");
      const auto r =
          dry_run("matrix -f " + shell_quote(file) + " --port " +
                  std::to_string(probe["port"].get<int>()) + " --protocol " + proto + " -o json");
      ASSERT_EQ(r.rc, 0) << r.err;
      const json out = json::parse(r.out);
      ASSERT_EQ(out["matrices"].size(), 1u);
      const json& m = out["matrices"][0];
      EXPECT_EQ(m["port"], probe["port"]);
      EXPECT_EQ(m["protocol"], proto);
      EXPECT_EQ(m["pods"].get<std::vector<std::string>>(), pods);
      std::set<std::pair<std::string, std::string>> want, got;
      for (const auto& d : probe["deny"])
        want.emplace(d[0].get<std::string>(), d[1].get<std::string>());
      for (const auto& d : m["denied"])
        got.emplace(d[0].get<std::string>(), d[1].get<std::string>());
      EXPECT_EQ(got, want) << "step " << name << ", " << probe["port"] << "/" << proto
                           << "\nexpected:\n"
                           << pairs_table(pods, want) << "got:\n"
                           << pairs_table(pods, got);
    }
    for (const auto& probe : step.value("external_probes", json::array())) {
      std::string to_ip;
      for (const auto& e : c["cluster"].value("external", json::array())) {
        if (e["name"] == probe["to"]) to_ip = e["ip"];
      }
      std::string from = probe["from"];
      for (const auto& e : c["cluster"].value("external", json::array())) {
        if (e["name"] == probe["from"]) from = e["ip"];
      }
      const std::string to = to_ip.empty() ? probe["to"].get<std::string>() : to_ip;
      const auto r =
          dry_run("eval -f " + shell_quote(file) + " --from " + shell_quote(from) + " --to " +
                  shell_quote(to) + " --port " + std::to_string(probe["port"].get<int>()) +
                  " --protocol " + probe.value("protocol", "TCP") + " -o json");
      ASSERT_TRUE(r.rc == 0 || r.rc == 1) << r.err;
      EXPECT_EQ(json::parse(r.out)["allowed"], probe["allowed"])
          << "step " << name << ": " << from << " -> " << to;
    }
  }
}

std::string case_name(const testing::TestParamInfo<std::string>& info) {
  std::string s = fs::path(info.param).stem().string();
  for (char& ch : s) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(SharedCases, Conformance, testing::ValuesIn(case_files()), case_name);

TEST(ConformanceCases, AreThere) {
  // The gate must not pass by finding nothing.
  EXPECT_GE(case_files().size(), 48u) << "cases expected in " << cases_dir();
}

}  // namespace
