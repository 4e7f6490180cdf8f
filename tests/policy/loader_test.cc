// policy::Loader: YAML streams, Lists, JSON, directories, skipped kinds, diagnostics.
#include "policy/loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.h"

namespace policy {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::find_error;
using testing::load;

const char* kNsProd = "{apiVersion: v1, kind: Namespace, metadata: {name: prod}}";
const char* kPodWeb =
    "{apiVersion: v1, kind: Pod, metadata: {name: web, namespace: prod, labels: {app: web}}, "
    "status: {podIP: 10.0.0.1}}";

TEST(LoaderTest, MultiDocumentYamlWithEmptyDocuments) {
  const auto r = load(std::string("---\n---\n") + kNsProd +
                      "\n---\n\n---\n# only a comment\n---\n" + kPodWeb + "\n---\n");
  EXPECT_TRUE(r.ok()) << testing::all_errors(r);
  EXPECT_EQ(r.files, 1);
  EXPECT_EQ(r.documents, 2);  // empty documents are not counted
  EXPECT_EQ(r.cluster.namespaces.count("prod"), 1u);
  ASSERT_EQ(r.cluster.pods.size(), 1u);
  EXPECT_EQ(r.cluster.pods[0].key(), "prod/web");
  EXPECT_TRUE(r.warnings.empty());
}

TEST(LoaderTest, ErrorSourceNamesFileAndDocument) {
  const auto r = load(std::string(kNsProd) + "\n" + testing::np_doc("prod", "p", "ingress: 1"));
  ASSERT_EQ(r.errors.size(), 1u) << testing::all_errors(r);
  EXPECT_EQ(r.errors[0].source, "test.yaml, document 2");
  EXPECT_EQ(r.errors[0].object, "NetworkPolicy prod/p");
  EXPECT_EQ(r.errors[0].error.field, "spec.ingress");
  // A single document is named by its file alone.
  const auto single = load(testing::np_doc("prod", "p", "ingress: 1"), "dir/one.yaml");
  ASSERT_EQ(single.errors.size(), 1u);
  EXPECT_EQ(single.errors[0].source, "dir/one.yaml");
  // The valid namespace of the first document is still loaded.
  EXPECT_EQ(r.cluster.namespaces.count("prod"), 1u);
}

TEST(LoaderTest, MalformedYamlReportsLine) {
  struct Case {
    const char* name;
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"unclosed flow sequence", "a: [\nb: c\n", "YAML: line 3"},
      {"bad indentation", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n bad: indentation\n",
       "YAML: line 5, column 2"},
      {"unclosed flow map", "apiVersion: v1\nkind: Pod\nmetadata: {name: x\n", "YAML: line 4"},
      {"tab indentation", "apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: a\n",
       "YAML: line 4"},
      {"non-scalar key", "? [a]\n: b\n", "map key is not a scalar"},
      // A stream that fails to parse is not trusted in part: the valid first document is
      // not loaded either.
      {"error in the second document", std::string(kNsProd) + "\n---\nkind: [\n", "YAML: line"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto r = load(c.text);
    ASSERT_EQ(r.errors.size(), 1u) << testing::all_errors(r);
    EXPECT_EQ(r.errors[0].source, "test.yaml");
    EXPECT_TRUE(contains(r.errors[0].error.message, c.message)) << r.errors[0].str();
    EXPECT_TRUE(r.cluster.namespaces.empty());
    EXPECT_TRUE(r.cluster.pods.empty());
  }
}

TEST(LoaderTest, DocumentsThatAreNotObjects) {
  const std::pair<const char*, const char*> cases[] = {
      {"- a\n- b\n", "a Kubernetes object must be a map, not [\"a\",\"b\"]"},
      {"hello\n", "must be a map"},
      {"42\n", "must be a map"},
      {"{apiVersion: v1, kind: List, items: [5]}", "must be a map"},
      {"{apiVersion: v1, kind: List, items: {a: b}}", "Invalid value: must be a list"},
  };
  for (const auto& [text, message] : cases) {
    SCOPED_TRACE(text);
    const auto r = load(text);
    ASSERT_EQ(r.errors.size(), 1u) << testing::all_errors(r);
    EXPECT_TRUE(contains(r.errors[0].error.message, message)) << r.errors[0].str();
  }
}

TEST(LoaderTest, ListWithItems) {
  // What `kubectl get ns,pods,netpol -A -o yaml` prints.
  const std::string list =
      "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: ''}\nitems:\n"
      "- {apiVersion: v1, kind: Namespace, metadata: {name: prod}}\n"
      "- {apiVersion: v1, kind: Service, metadata: {name: svc, namespace: prod}}\n"
      "- {apiVersion: v1, kind: Pod, metadata: {name: web, namespace: prod}}\n"
      "- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: "
      "prod}, spec: {policyTypes: [Sideways]}}\n"
      "- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: q, namespace: "
      "prod}}\n";
  const auto r = load(list);
  ASSERT_EQ(r.errors.size(), 1u) << testing::all_errors(r);
  EXPECT_EQ(r.errors[0].source, "test.yaml, items[3]");
  EXPECT_EQ(r.errors[0].object, "NetworkPolicy prod/p");
  EXPECT_EQ(r.errors[0].error.field, "spec.policyTypes[0]");
  EXPECT_EQ(r.cluster.pods.size(), 1u);
  ASSERT_EQ(r.cluster.policies.size(), 1u);
  EXPECT_EQ(r.cluster.policies[0].name, "q");
  EXPECT_EQ(r.skipped_kinds, (std::map<std::string, int>{{"Service", 1}}));
  EXPECT_EQ(r.documents, 1);

  // In a multi-document stream the document number comes first.
  const auto r2 = load(std::string(kNsProd) +
                       "\n---\n{apiVersion: v1, kind: PodList, items: [{apiVersion: v1, kind: "
                       "Pod, metadata: {name: a}}, {apiVersion: v1, kind: Pod, metadata: {name: "
                       "B}}]}\n");
  ASSERT_EQ(r2.errors.size(), 1u) << testing::all_errors(r2);
  EXPECT_EQ(r2.errors[0].source, "test.yaml, document 2, items[1]");
  EXPECT_EQ(r2.cluster.pods.size(), 1u);

  // An empty list is fine.
  EXPECT_TRUE(load("{apiVersion: v1, kind: List, items: []}").ok());
  EXPECT_TRUE(load("{apiVersion: v1, kind: List, items: null}").ok());
}

TEST(LoaderTest, JsonFiles) {
  const std::string json = R"({
    "apiVersion": "v1", "kind": "List", "items": [
      {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
       "status": {"podIPs": [{"ip": "10.0.0.1"}]}},
      {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
       "metadata": {"name": "p", "namespace": "prod"},
       "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}}
    ]})";
  const auto r = load(json, "cluster.json");
  EXPECT_TRUE(r.ok()) << testing::all_errors(r);
  EXPECT_EQ(r.cluster.pods.size(), 1u);
  ASSERT_EQ(r.cluster.policies.size(), 1u);
  EXPECT_EQ(r.cluster.policies[0].ingress[0].ports[0].port, (PolicyPort{.port = 80}).port);

  // A JSON string "80" is a named port, which must contain a letter.
  const auto named = load(
      R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p"},
          "spec": {"ingress": [{"ports": [{"port": "80"}]}]}})",
      "p.json");
  EXPECT_NE(find_error(named, "spec.ingress[0].ports[0].port", "at least one letter"), nullptr)
      << testing::all_errors(named);

  for (const char* bad : {"{", "a: b", "", "{\"a\": 1} {\"b\": 2}"}) {
    SCOPED_TRACE(bad);
    const auto e = load(bad, "bad.json");
    ASSERT_EQ(e.errors.size(), 1u);
    EXPECT_EQ(e.errors[0].source, "bad.json");
    EXPECT_TRUE(contains(e.errors[0].error.message, "JSON")) << e.errors[0].str();
  }
}

TEST(LoaderTest, YamlScalarTyping) {
  // YAML "80" (quoted) is a string, so as a port it is a NAMED port: invalid (no letter).
  const auto quoted = load(testing::np_doc("ns", "p", "ingress: [{ports: [{port: \"80\"}]}]"));
  EXPECT_NE(
      find_error(quoted, "spec.ingress[0].ports[0].port", "must contain at least one letter (a-z)"),
      nullptr)
      << testing::all_errors(quoted);
  // Unquoted 80 is a number.
  const auto plain = load(testing::np_doc("ns", "p", "ingress: [{ports: [{port: 80}]}]"));
  ASSERT_TRUE(plain.ok()) << testing::all_errors(plain);
  EXPECT_EQ(std::get<int32_t>(*plain.cluster.policies[0].ingress[0].ports[0].port), 80);
  // A plain `true` is a boolean, which a label value may not be (kubectl: "cannot unmarshal
  // bool into ... of type string"); quoted, it is the string "true".
  const auto b = load("{apiVersion: v1, kind: Pod, metadata: {name: x, labels: {enabled: true}}}");
  EXPECT_NE(find_error(b, "metadata.labels[enabled]", "must be a string, not a boolean"), nullptr)
      << testing::all_errors(b);
  const auto s =
      load("{apiVersion: v1, kind: Pod, metadata: {name: x, labels: {enabled: 'true'}}}");
  ASSERT_TRUE(s.ok()) << testing::all_errors(s);
  EXPECT_EQ(s.cluster.pods[0].labels.at("enabled"), "true");
  // A label value that looks like a number must be quoted, too.
  const auto n = load("{apiVersion: v1, kind: Pod, metadata: {name: x, labels: {v: 1.0}}}");
  EXPECT_NE(find_error(n, "metadata.labels[v]", "must be a string, not a number"), nullptr);
}

TEST(LoaderTest, SkippedKindsAreCounted) {
  const auto r = load(
      "{apiVersion: v1, kind: Service, metadata: {name: a}}\n---\n"
      "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}\n---\n"
      "{apiVersion: v1, kind: Service, metadata: {name: b}}\n---\n"
      "{apiVersion: v9, kind: ConfigMap, metadata: {name: c}}\n");
  EXPECT_TRUE(r.ok()) << testing::all_errors(r);
  EXPECT_EQ(r.skipped_kinds,
            (std::map<std::string, int>{{"ConfigMap", 1}, {"Deployment", 1}, {"Service", 2}}));
  EXPECT_EQ(r.documents, 4);
  EXPECT_TRUE(r.cluster.pods.empty());
}

TEST(LoaderTest, DuplicatesWarnAndTheLaterWins) {
  const auto r = load(
      "{apiVersion: v1, kind: Pod, metadata: {name: x, namespace: prod, labels: {v: '1'}}}\n---\n"
      "{apiVersion: v1, kind: Namespace, metadata: {name: prod, labels: {v: '1'}}}\n---\n"
      "{apiVersion: v1, kind: Pod, metadata: {name: x, namespace: prod, labels: {v: '2'}}}\n---\n"
      "{apiVersion: v1, kind: Namespace, metadata: {name: prod, labels: {v: '2'}}}\n" +
      testing::np_doc("prod", "p", "ingress: [{}]") + testing::np_doc("prod", "p", "egress: [{}]"));
  EXPECT_TRUE(r.ok()) << testing::all_errors(r);
  ASSERT_EQ(r.cluster.pods.size(), 1u);
  EXPECT_EQ(r.cluster.pods[0].labels.at("v"), "2");
  EXPECT_EQ(r.cluster.namespaces.at("prod").labels.at("v"), "2");
  ASSERT_EQ(r.cluster.policies.size(), 1u);
  EXPECT_TRUE(r.cluster.policies[0].ingress.empty());
  EXPECT_EQ(r.cluster.policies[0].egress.size(), 1u);
  ASSERT_EQ(r.warnings.size(), 3u);
  EXPECT_EQ(r.warnings[0].object, "Pod prod/x");
  EXPECT_EQ(r.warnings[0].source, "test.yaml, document 3");
  EXPECT_EQ(r.warnings[0].error.message,
            "defined again (first in test.yaml, document 1); this definition wins");
  EXPECT_EQ(r.warnings[1].object, "Namespace prod");
  EXPECT_TRUE(contains(r.warnings[1].error.message, "first in test.yaml, document 2"));
  EXPECT_EQ(r.warnings[2].object, "NetworkPolicy prod/p");
  // A Pod and a NetworkPolicy of the same name are different objects.
  const auto both = load(
      "{apiVersion: v1, kind: Pod, metadata: {name: x}}\n---\n"
      "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: x}}\n---\n"
      "{apiVersion: v1, kind: Namespace, metadata: {name: default}}\n");
  EXPECT_TRUE(both.warnings.empty()) << both.warnings[0].str();
}

TEST(LoaderTest, ImpliedNamespacesWarn) {
  const auto r = load(std::string(kPodWeb) + "\n---\n" + testing::np_doc("dev", "p", "") +
                      "---\n{apiVersion: v1, kind: Namespace, metadata: {name: other}}\n");
  EXPECT_TRUE(r.ok()) << testing::all_errors(r);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0].object, "Namespace dev");
  EXPECT_EQ(r.warnings[1].object, "Namespace prod");
  EXPECT_TRUE(contains(r.warnings[1].error.message, "not in the input"));
  EXPECT_TRUE(contains(r.warnings[1].str(), "kubernetes.io/metadata.name=prod"));
  EXPECT_FALSE(r.cluster.namespaces.at("prod").declared);
  EXPECT_EQ(r.cluster.namespace_labels("prod"), (Labels{{"kubernetes.io/metadata.name", "prod"}}));
  EXPECT_TRUE(r.cluster.namespaces.at("other").declared);
}

TEST(LoaderTest, PodDetails) {
  const auto r = load(
      "apiVersion: v1\nkind: List\nitems:\n"
      // Init containers with restartPolicy Always (sidecars) keep serving: their ports count.
      "- apiVersion: v1\n  kind: Pod\n  metadata: {name: sidecar, namespace: ns}\n"
      "  spec:\n    initContainers:\n"
      "    - {name: init, ports: [{containerPort: 1000, name: once}]}\n"
      "    - {name: proxy, restartPolicy: Always, ports: [{containerPort: 15001, name: envoy}]}\n"
      "    containers: [{name: app, ports: [{containerPort: 80}]}]\n"
      "  status: {podIPs: [{ip: 10.0.0.1}, {ip: 'fd00::1'}]}\n"
      "- apiVersion: v1\n  kind: Pod\n  metadata: {name: host, namespace: ns}\n"
      "  spec: {hostNetwork: true}\n  status: {podIP: 192.168.1.1}\n"
      "- apiVersion: v1\n  kind: Pod\n  metadata: {name: done, namespace: ns, deletionTimestamp: "
      "null}\n  status: {phase: Succeeded, podIP: 10.0.0.9}\n"
      "- apiVersion: v1\n  kind: Pod\n  metadata: {name: going, namespace: ns, "
      "deletionTimestamp: '2024-05-01T10:00:00Z'}\n  status: {phase: Running}\n");
  ASSERT_TRUE(r.ok()) << testing::all_errors(r);
  const Pod* sidecar = r.cluster.find_pod("ns/sidecar");
  ASSERT_NE(sidecar, nullptr);
  EXPECT_EQ(sidecar->ports, (std::vector<ContainerPort>{{"", 80, Protocol::kTCP},
                                                        {"envoy", 15001, Protocol::kTCP}}));
  ASSERT_EQ(sidecar->ips.size(), 2u);
  EXPECT_EQ(sidecar->ips[0].family, common::Family::kV4);
  EXPECT_EQ(sidecar->ips[1].str(), "fd00::1");
  EXPECT_FALSE(sidecar->terminating);

  const Pod* host = r.cluster.find_pod("ns/host");
  ASSERT_NE(host, nullptr);
  EXPECT_TRUE(host->host_network);
  EXPECT_FALSE(host->selectable());

  const Pod* done = r.cluster.find_pod("ns/done");
  ASSERT_NE(done, nullptr);
  EXPECT_TRUE(done->finished());
  EXPECT_FALSE(done->selectable());
  EXPECT_FALSE(done->terminating);  // null is absent

  const Pod* going = r.cluster.find_pod("ns/going");
  ASSERT_NE(going, nullptr);
  EXPECT_TRUE(going->terminating);
  EXPECT_TRUE(going->selectable());
  EXPECT_TRUE(going->ips.empty());
}

TEST(ClusterTest, FinalizeSortsAndLooksUp) {
  Cluster c;
  c.pods.push_back(Pod{.namespace_ = "b", .name = "a"});
  c.pods.push_back(Pod{.namespace_ = "a",
                       .name = "z",
                       .phase = "Failed",
                       .ips = {*common::IpAddr::parse("10.0.0.1")}});
  c.pods.push_back(
      Pod{.namespace_ = "a", .name = "y", .ips = {*common::IpAddr::parse("10.0.0.1")}});
  c.policies.push_back(NetworkPolicy{.namespace_ = "c", .name = "p"});
  c.namespaces["b"] = Namespace{.name = "b", .labels = {{"x", "y"}}};
  c.finalize();
  ASSERT_EQ(c.pods.size(), 3u);
  EXPECT_EQ(c.pods[0].key(), "a/y");
  EXPECT_EQ(c.pods[1].key(), "a/z");
  EXPECT_EQ(c.pods[2].key(), "b/a");
  EXPECT_EQ(c.namespaces.size(), 3u);  // a and c are implied
  EXPECT_FALSE(c.namespaces.at("c").declared);
  EXPECT_EQ(c.namespace_labels("b"), (Labels{{"x", "y"}}));  // declared: left alone
  EXPECT_TRUE(c.namespace_labels("nope").empty());
  EXPECT_EQ(c.find_pod("b/a"), &c.pods[2]);
  EXPECT_EQ(c.find_pod("b/zz"), nullptr);
  ASSERT_NE(c.find_policy("c/p"), nullptr);
  EXPECT_EQ(c.find_policy("c/q"), nullptr);
  // A finished pod's IP may be reused: the live pod wins.
  EXPECT_EQ(c.find_pod_by_ip(*common::IpAddr::parse("10.0.0.1")), &c.pods[0]);
  EXPECT_EQ(c.find_pod_by_ip(*common::IpAddr::parse("10.0.0.2")), nullptr);
}

// A scratch directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("nftpolicy-loader-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path write(const std::string& rel, const std::string& text) const {
    const auto p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(LoaderTest, DirectoriesRecursiveSortedManifestsOnly) {
  TempDir dir;
  const auto policy = [](const char* port) {
    return "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\", "
           "\"metadata\": {\"name\": \"p\", \"namespace\": \"prod\"}, \"spec\": {\"ingress\": "
           "[{\"ports\": [{\"port\": " +
           std::string(port) + "}]}]}}";
  };
  dir.write("3.json", policy("3"));
  dir.write("a/1.yaml", policy("1"));
  dir.write("b/c/2.yml", policy("2") + "\n---\n" + kPodWeb);
  dir.write("ns.yaml", kNsProd);
  dir.write("README.md", "not: [yaml");
  dir.write("notes.txt", "{");
  dir.write("b/old.yaml.bak", "{");
  dir.write("b/.yaml/x.txt", "{");
  const auto r = load_paths({dir.path().string()});
  EXPECT_TRUE(r.ok()) << testing::all_errors(r);
  EXPECT_EQ(r.files, 4);
  EXPECT_EQ(r.documents, 5);
  EXPECT_EQ(r.cluster.pods.size(), 1u);
  // Files are read in sorted path order (3.json, a/1.yaml, b/c/2.yml, ns.yaml); the last
  // definition wins.
  ASSERT_EQ(r.cluster.policies.size(), 1u);
  EXPECT_EQ(std::get<int32_t>(*r.cluster.policies[0].ingress[0].ports[0].port), 2);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_TRUE(contains(r.warnings[0].error.message, "3.json")) << r.warnings[0].str();
  EXPECT_TRUE(contains(r.warnings[0].source, "a/1.yaml"));
  EXPECT_TRUE(contains(r.warnings[1].source, "b/c/2.yml, document 1"));

  // A file named directly is read whatever its extension.
  const auto txt = dir.write("plain.txt", kNsProd);
  const auto one = load_paths({txt.string()});
  EXPECT_TRUE(one.ok()) << testing::all_errors(one);
  EXPECT_EQ(one.cluster.namespaces.count("prod"), 1u);

  const auto missing = load_paths({(dir.path() / "nope.yaml").string()});
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_TRUE(contains(missing.errors[0].error.message, "no such file or directory"));
}

}  // namespace
}  // namespace policy
