#include "latency_cluster.h"

#include <algorithm>

#include "latency_http.h"
#include "policy/evaluator.h"

namespace bench {
namespace {

using nlohmann::json;

json selector_json(const policy::LabelSelector& s) {
  json out = json::object();
  if (!s.match_labels.empty()) out["matchLabels"] = s.match_labels;
  for (const auto& r : s.match_expressions) {
    static const char* kOps[] = {"In", "NotIn", "Exists", "DoesNotExist"};
    json e = {{"key", r.key}, {"operator", kOps[static_cast<int>(r.op)]}};
    if (!r.values.empty()) e["values"] = r.values;
    out["matchExpressions"].push_back(e);
  }
  return out;
}

json rule_json(const policy::Rule& rule, const char* peers_key) {
  json out = json::object();
  for (const auto& p : rule.peers) {
    json peer = json::object();
    if (p.pod_selector) peer["podSelector"] = selector_json(*p.pod_selector);
    if (p.namespace_selector) peer["namespaceSelector"] = selector_json(*p.namespace_selector);
    if (p.ip_block) {
      peer["ipBlock"]["cidr"] = p.ip_block->cidr.str();
      for (const auto& e : p.ip_block->except) peer["ipBlock"]["except"].push_back(e.str());
    }
    out[peers_key].push_back(peer);
  }
  for (const auto& port : rule.ports) {
    json p = {{"protocol", policy::to_string(port.protocol)}};
    if (port.port) {
      if (const auto* n = std::get_if<int32_t>(&*port.port)) p["port"] = *n;
      if (const auto* s = std::get_if<std::string>(&*port.port)) p["port"] = *s;
    }
    if (port.end_port) p["endPort"] = *port.end_port;
    out["ports"].push_back(p);
  }
  return out;
}

}  // namespace

json namespace_json(const policy::Namespace& ns) {
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata", {{"name", ns.name}, {"labels", ns.labels}}},
          {"spec", {{"finalizers", {"kubernetes"}}}},
          {"status", {{"phase", "Active"}}}};
}

json pod_json(const policy::Pod& pod) {
  json ports = json::array();
  for (const auto& p : pod.ports) {
    json port = {{"containerPort", p.port}, {"protocol", policy::to_string(p.protocol)}};
    if (!p.name.empty()) port["name"] = p.name;
    ports.push_back(port);
  }
  json spec = {{"nodeName", pod.node},
               {"containers", {{{"name", "c"}, {"image", "registry.k8s.io/pause"}}}}};
  if (!ports.empty()) spec["containers"][0]["ports"] = ports;
  if (pod.host_network) spec["hostNetwork"] = true;
  json status = {{"phase", pod.phase}};
  if (!pod.ips.empty()) {
    status["podIP"] = pod.ips[0].str();
    for (const auto& ip : pod.ips) status["podIPs"].push_back({{"ip", ip.str()}});
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", pod.name}, {"namespace", pod.namespace_}, {"labels", pod.labels}}},
          {"spec", spec},
          {"status", status}};
}

json policy_json(const policy::NetworkPolicy& np) {
  json spec = {{"podSelector", selector_json(np.pod_selector)}};
  for (const auto& r : np.ingress) spec["ingress"].push_back(rule_json(r, "from"));
  for (const auto& r : np.egress) spec["egress"].push_back(rule_json(r, "to"));
  if (np.policy_types_explicit) {
    spec["policyTypes"] = json::array();
    if (np.ingress_type) spec["policyTypes"].push_back("Ingress");
    if (np.egress_type) spec["policyTypes"].push_back("Egress");
  }
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", {{"name", np.name}, {"namespace", np.namespace_}}},
          {"spec", spec}};
}

std::string store_raw_request(const std::string& resource, const json& object) {
  const json body = {{"store_raw", {{"resource", resource}, {"object", object}}}};
  return HttpConnection::format("POST", "/_standin/faults", body.dump());
}

void add_system_namespaces(policy::Cluster& cluster) {
  for (const char* name : {"default", "kube-system", "kube-public"}) {
    cluster.namespaces[name] = {.name = name, .labels = {{"kubernetes.io/metadata.name", name}}};
  }
}

bool node_allows(const policy::Cluster& cluster, const FlowEnd& src, const FlowEnd& dst,
                 std::uint16_t port, const std::string& node) {
  policy::Cluster mini;
  for (const auto* p : {src.pod, dst.pod}) {
    if (!p) continue;
    mini.pods.push_back(*p);
    // A namespaceSelector only ever looks at the labels of the peer pod's namespace.
    if (const auto it = cluster.namespaces.find(p->namespace_); it != cluster.namespaces.end()) {
      mini.namespaces[it->first] = it->second;
    }
  }
  for (const auto& np : cluster.policies) {
    if ((src.pod && np.namespace_ == src.pod->namespace_) ||
        (dst.pod && np.namespace_ == dst.pod->namespace_)) {
      mini.policies.push_back(np);
    }
  }
  mini.finalize();
  const policy::Evaluator ev(mini);
  auto end = [&](const FlowEnd& e) {
    return policy::Endpoint{.pod = e.pod ? mini.find_pod(e.pod->key()) : nullptr, .ip = e.ip};
  };
  const policy::Flow flow{
      .src = end(src), .dst = end(dst), .port = port, .protocol = policy::Protocol::kTCP};
  const auto v = ev.evaluate(flow);
  const bool src_here = src.pod && src.pod->node == node;
  const bool dst_here = dst.pod && dst.pod->node == node;
  return (!src_here || v.egress.allowed) && (!dst_here || v.ingress.allowed);
}

Expectation Expectation::of(const nft::Transaction& tx) {
  Expectation e;
  e.ops = tx.size();
  for (const auto& op : tx.ops) {
    auto elements = [&](const std::string& set, const nft::SetType& type,
                        const std::vector<nft::Element>& els,
                        std::map<std::string, std::set<KeyBytes>>& into) {
      e.element_ops += els.size();
      if (type.interval) {
        e.interval_sets.insert(set);
        return;
      }
      for (const auto& el : els) into[set].insert(KeyBytes(el.key.begin(), el.key.end()));
    };
    if (const auto* a = std::get_if<nft::op::AddElements>(&op)) {
      elements(a->set, a->type, a->elements, e.added);
    } else if (const auto* d = std::get_if<nft::op::DeleteElements>(&op)) {
      elements(d->set, d->type, d->elements, e.deleted);
    } else if (const auto* c = std::get_if<nft::op::AddChain>(&op)) {
      e.chains_added.insert(c->name);
    } else if (const auto* dc = std::get_if<nft::op::DeleteChain>(&op)) {
      e.chains_deleted.insert(dc->name);
    } else if (const auto* s = std::get_if<nft::op::AddSet>(&op)) {
      e.sets_added.insert(s->name);
    } else if (const auto* ds = std::get_if<nft::op::DeleteSet>(&op)) {
      e.sets_deleted.insert(ds->name);
    } else if (std::holds_alternative<nft::op::AddRule>(op)) {
      ++e.rules_added;
    }
  }
  return e;
}

bool Expectation::met_by(const NftBatch& seen) const {
  auto holds = [](const std::map<std::string, std::set<KeyBytes>>& want,
                  const std::map<std::string, std::set<KeyBytes>>& got) {
    for (const auto& [set, keys] : want) {
      const auto it = got.find(set);
      if (it == got.end()) return false;
      for (const auto& k : keys) {
        if (!it->second.contains(k)) return false;
      }
    }
    return true;
  };
  auto includes = [](const std::set<std::string>& want, const std::set<std::string>& got) {
    return std::includes(got.begin(), got.end(), want.begin(), want.end());
  };
  for (const auto& s : interval_sets) {
    if (!seen.added.contains(s) && !seen.deleted.contains(s)) return false;
  }
  return !empty() && holds(added, seen.added) && holds(deleted, seen.deleted) &&
         includes(chains_added, seen.chains_added) &&
         includes(chains_deleted, seen.chains_deleted) && includes(sets_added, seen.sets_added) &&
         includes(sets_deleted, seen.sets_deleted) && seen.rules_added >= rules_added;
}

void merge(NftBatch& into, const NftBatch& b) {
  if (into.messages == 0) into.first = b.first;
  into.end = b.end;
  into.messages += b.messages;
  for (const auto& [s, keys] : b.added) into.added[s].insert(keys.begin(), keys.end());
  for (const auto& [s, keys] : b.deleted) into.deleted[s].insert(keys.begin(), keys.end());
  into.chains_added.insert(b.chains_added.begin(), b.chains_added.end());
  into.chains_deleted.insert(b.chains_deleted.begin(), b.chains_deleted.end());
  into.sets_added.insert(b.sets_added.begin(), b.sets_added.end());
  into.sets_deleted.insert(b.sets_deleted.begin(), b.sets_deleted.end());
  into.rules_added += b.rules_added;
  into.rules_deleted += b.rules_deleted;
}

}  // namespace bench
