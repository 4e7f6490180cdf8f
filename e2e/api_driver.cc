#include "api_driver.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "runner.h"

namespace e2e {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kSynced = "nftpolicy_synced_resource_version";
constexpr const char* kResources[] = {"namespaces", "pods", "networkpolicies"};
// The API server keeps this label on every namespace whatever an update says.
constexpr const char* kNameLabel = "kubernetes.io/metadata.name";

// Documents for `kubectl -f`: JSON is YAML, one object per document. Not a v1 List: kubectl
// validates a List against the server's OpenAPI, which the stand-in does not serve for it.
// The comment keeps kubectl from reading the file as a JSON stream, where `---` is invalid.
std::string yaml_documents(const json& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : "---\n") + ("# e2e\n" + item.dump(1) + "\n");
  return out;
}

std::string policy_key(const json& np) {
  const json& meta = np.at("metadata");
  return meta.value("namespace", "default") + "/" + meta.at("name").get<std::string>();
}

json pod_object(const cases::CasePod& p, const json& labels) {
  json ports = json::array();
  for (const auto& port : p.ports) {
    json cp = {{"containerPort", port.port}, {"protocol", port.protocol}};
    if (!port.name.empty()) cp["name"] = port.name;
    ports.push_back(cp);
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", p.name}, {"namespace", p.ns}, {"labels", labels}}},
          {"spec",
           {{"nodeName", p.node},
            {"containers", json::array({{{"name", "server"},
                                         {"image", "registry.k8s.io/e2e-test-images/agnhost:2.53"},
                                         {"ports", ports}}})}}}};
}

json pod_status(const PodInfo& pod) {
  json ips = json::array();
  for (const auto& ip : pod.spec.ips) ips.push_back({{"ip", ip}});
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", pod.spec.name}, {"namespace", pod.spec.ns}}},
          {"status", {{"phase", "Running"}, {"podIP", pod.spec.ips.at(0)}, {"podIPs", ips}}}};
}

}  // namespace

const char* to_string(WriteMode m) {
  switch (m) {
    case WriteMode::client_apply:
      return "kubectl apply";
    case WriteMode::server_side_apply:
      return "kubectl apply --server-side";
    case WriteMode::create_replace:
      return "kubectl create/replace";
  }
  return "?";
}

ApiDriver::ApiDriver(Janitor& janitor, const Cluster& cluster, ApiDriverOptions opt)
    : janitor_(janitor), cluster_(cluster), opt_(std::move(opt)) {}

ApiDriver::~ApiDriver() {
  try {
    down(opt_.keep);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "npe2e: stopping the control plane: %s\n", e.what());
  }
}

void ApiDriver::prepare(const cases::Case& c) {
  down();
  case_ = &c;
  dir_ = opt_.workdir + "/api-" + std::to_string(++generation_);
  std::filesystem::create_directories(dir_);
  const NodeInfo& n1 = cluster_.nodes().at(0);
  standin_ = std::make_unique<StandIn>(janitor_, StandInOptions{.script = opt_.standin_script,
                                                                .kubectl = opt_.kubectl,
                                                                .dir = dir_ + "/standin",
                                                                .state = dir_ + "/state.json",
                                                                .netns = n1.netns,
                                                                .verbose = opt_.verbose});
  agents_ = std::make_unique<NodeAgents>(
      janitor_, cluster_,
      AgentOptions{.binary = opt_.agent, .kubeconfig = standin_->kubeconfig(), .logdir = dir_});
  pod_labels_.clear(), ns_labels_.clear(), policies_.clear(), written_.clear();
  last_write_ = {};
}

void ApiDriver::up(const cases::Case& c) {
  prepare(c);
  start_standin();
  create_objects();
  start_agents();
  converge();
}

void ApiDriver::down(bool keep_rules) {
  if (agents_) agents_->stop();
  if (standin_) standin_->stop();
  if (!agents_ && !standin_) return;
  past_calls_ += standin_->kubectl_calls();
  past_seconds_ += standin_->kubectl_seconds();
  agents_.reset(), standin_.reset();
  if (keep_rules) return;
  // The agents leave their rules in place when stopped; the next control plane starts clean.
  for (const auto& n : cluster_.nodes())
    run(in_netns(n.netns, {"nft", "delete", "table", "inet", "nftpolicy"}));
  flush_conntrack();
}

size_t ApiDriver::kubectl_calls() const {
  return past_calls_ + (standin_ ? standin_->kubectl_calls() : 0);
}

double ApiDriver::kubectl_seconds() const {
  return past_seconds_ + (standin_ ? standin_->kubectl_seconds() : 0);
}

void ApiDriver::flush_conntrack() const {
  for (const auto& n : cluster_.nodes()) run(in_netns(n.netns, {"conntrack", "-F"}));
}

std::string ApiDriver::write_manifest(const std::string& name, const json& items) const {
  const std::string path = dir_ + "/" + file_safe(name) + ".yaml";
  std::ofstream(path) << yaml_documents(items);
  return path;
}

void ApiDriver::create_objects() {
  const cases::CaseState initial(*case_);
  json objects = json::array(), status = json::array();
  for (const auto& [name, labels] : case_->namespaces) {
    json l = initial.namespace_labels(name);
    l[kNameLabel] = name;
    objects.push_back({{"apiVersion", "v1"},
                       {"kind", "Namespace"},
                       {"metadata", {{"name", name}, {"labels", l}}}});
    ns_labels_[name] = l;
  }
  for (const auto& p : case_->pods) {
    objects.push_back(pod_object(p, initial.pod_labels(p.key())));
    status.push_back(pod_status(cluster_.pod(p.key())));
    pod_labels_[p.key()] = initial.pod_labels(p.key());
  }
  standin_->kubectl({"apply", "-f", write_manifest("objects", objects)});
  standin_->kubectl({"apply", "--server-side", "--subresource=status", "-f",
                     write_manifest("pod-status", status)});
}

void ApiDriver::label(const std::string& kind, const std::string& ns, const std::string& name,
                      const json& want, json& have) {
  if (want == have) return;
  std::vector<std::string> args = {"label", "--overwrite", kind};
  if (!ns.empty()) args.insert(args.end(), {"-n", ns});
  args.push_back(name);
  for (const auto& [k, v] : want.items()) {
    if (!have.contains(k) || have[k] != v) args.push_back(k + "=" + v.get<std::string>());
  }
  for (const auto& [k, v] : have.items()) {
    if (!want.contains(k)) args.push_back(k + "-");
  }
  kubectl_write(kind == "pod" ? "pods" : "namespaces", args);
  have = want;
}

void ApiDriver::write_labels(const cases::CaseState& state) {
  for (const auto& [name, labels] : case_->namespaces) {
    json want = state.namespace_labels(name);
    want[kNameLabel] = name;
    label("namespace", "", name, want, ns_labels_[name]);
  }
  for (const auto& p : case_->pods)
    label("pod", p.ns, p.name, state.pod_labels(p.key()), pod_labels_[p.key()]);
}

void ApiDriver::write_policies(const json& policies, WriteMode mode) {
  std::map<std::string, json> want;
  for (const auto& np : policies) want[policy_key(np)] = np;
  std::map<std::string, std::vector<std::string>> gone;  // namespace -> names
  for (const auto& [key, np] : policies_) {
    if (!want.count(key))
      gone[key.substr(0, key.find('/'))].push_back(key.substr(key.find('/') + 1));
  }
  for (const auto& [ns, names] : gone) {
    std::vector<std::string> args = {"delete", "networkpolicy", "-n", ns};
    args.insert(args.end(), names.begin(), names.end());
    kubectl_write("networkpolicies", args);
  }
  json all = json::array(), fresh = json::array(), changed = json::array();
  for (const auto& [key, np] : want) {
    all.push_back(np);
    if (!policies_.count(key))
      fresh.push_back(np);
    else if (policies_[key] != np)
      changed.push_back(np);
  }
  policies_ = want;
  if (mode == WriteMode::create_replace) {
    if (!fresh.empty())
      kubectl_write("networkpolicies", {"create", "-f", write_manifest("create", fresh)});
    if (!changed.empty())
      kubectl_write("networkpolicies", {"replace", "-f", write_manifest("replace", changed)});
  } else if (!all.empty()) {
    std::vector<std::string> args = {"apply", "-f", write_manifest("apply", all)};
    if (mode == WriteMode::server_side_apply) args.insert(args.begin() + 1, "--server-side");
    kubectl_write("networkpolicies", args);
  }
}

void ApiDriver::delete_all_policies() {
  kubectl_write("networkpolicies", {"delete", "networkpolicy", "--all", "--all-namespaces"});
  policies_.clear();
}

void ApiDriver::kubectl_write(const std::string& resource, const std::vector<std::string>& args) {
  const std::uint64_t before = standin_->resource_version();
  standin_->kubectl(args);
  last_write_ = Clock::now();
  const std::uint64_t after = standin_->resource_version();
  if (after > before) written_[resource] = after;  // a call may write nothing
}

// Every agent's synced resourceVersion per resource (-1: no answer yet).
std::vector<std::map<std::string, double>> ApiDriver::synced() const {
  std::vector<std::map<std::string, double>> out;
  for (size_t i = 0; i < agents_->agents().size(); ++i) {
    auto& row = out.emplace_back();
    Samples s;
    try {
      s = agents_->metrics(i);
    } catch (const std::exception&) {
      // not listening yet
    }
    for (const char* r : kResources) row[r] = NodeAgents::sample(s, kSynced, "resource", r);
  }
  return out;
}

std::string ApiDriver::lag_report(std::uint64_t rv) const {
  std::string out = "resourceVersion " + std::to_string(rv) + ";";
  const auto rows = synced();
  for (size_t i = 0; i < rows.size(); ++i) {
    out += " " + agents_->agents()[i].node + ":";
    for (const auto& [r, v] : rows[i]) out += " " + r + "=" + std::to_string(int64_t(v));
  }
  return out;
}

Convergence ApiDriver::converge() {
  const auto t0 = Clock::now();
  const auto from = last_write_ == Clock::time_point{} ? t0 : last_write_;
  const std::uint64_t rv = standin_->resource_version();
  Convergence c;
  for (bool written = false;;) {
    if (const std::string dead = agents_->check_alive(); !dead.empty())
      throw std::runtime_error(dead);
    bool all = true;
    const bool had_written = written;
    written = true;
    for (const auto& row : synced()) {
      for (const auto& [r, v] : row) {
        all &= v >= static_cast<double>(rv);
        if (written_.count(r)) written &= v >= static_cast<double>(written_[r]);
      }
    }
    const double secs = std::chrono::duration<double>(Clock::now() - from).count();
    if (written && !had_written) c.written = secs;
    if (all) {
      c.all = secs;
      written_.clear();
      last_write_ = {};
      return c;
    }
    if (Clock::now() - t0 > opt_.converge_timeout || interrupted()) {
      throw std::runtime_error("the agents did not converge within " + std::to_string(int(secs)) +
                               " s: " + lag_report(rv));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string ApiDriver::diagnostics(size_t lines) const {
  std::string out = agents_ ? agents_->log_tails(lines) : "";
  if (standin_)
    out += "  log of the stand-in (" + standin_->log() + "):\n" + tail_file(standin_->log(), lines);
  return out;
}

}  // namespace e2e
