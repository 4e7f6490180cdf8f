#include "policy/parse.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "policy/validation.h"

namespace policy {
namespace {

using json = nlohmann::json;

// Collects errors under a field path.
struct Ctx {
  FieldErrors& errors;
  size_t start = errors.size();
  void add(const std::string& path, std::string msg) { errors.push_back({path, std::move(msg)}); }
  bool clean() const { return errors.size() == start; }
};

// Input may hold invalid UTF-8; messages replace it rather than throw.
std::string quoted(const json& v) {
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string kind_of(const json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "a list";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  return "null";
}

// A field's value; JSON null counts as absent, as in the Kubernetes decoders.
const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

bool expect(const json& v, json::value_t type, const char* what, const std::string& path, Ctx& c) {
  const bool ok =
      v.type() == type || (type == json::value_t::number_integer && v.is_number_unsigned());
  if (!ok)
    c.add(path,
          std::string("Invalid value: ") + quoted(v) + ": must be " + what + ", not " + kind_of(v));
  return ok;
}

void check_known(const json& obj, const std::string& path, std::initializer_list<const char*> known,
                 Ctx& c) {
  for (const auto& item : obj.items()) {
    const std::string& key = item.key();
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
      c.add(path.empty() ? key : path + "." + key, "unknown field \"" + key + "\"");
    }
  }
}

std::optional<std::string> get_string(const json& obj, const char* key, const std::string& path,
                                      Ctx& c) {
  const json* v = field(obj, key);
  if (!v || !expect(*v, json::value_t::string, "a string", path, c)) return std::nullopt;
  return v->get<std::string>();
}

std::optional<int64_t> get_int(const json& v, const std::string& path, Ctx& c) {
  if (!v.is_number_integer()) {
    c.add(path, "Invalid value: " + quoted(v) + ": must be an integer, not " + kind_of(v));
    return std::nullopt;
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() > INT32_MAX) return INT32_MAX + int64_t{1};
  return v.get<int64_t>();
}

Labels parse_labels(const json* v, const std::string& path, Ctx& c) {
  Labels out;
  if (!v || !expect(*v, json::value_t::object, "a map of strings", path, c)) return out;
  for (const auto& [key, val] : v->items()) {
    const std::string p = path + "[" + key + "]";
    if (auto e = validation::qualified_name(key); !e.empty()) {
      c.add(path, "Invalid value: \"" + key + "\": " + e);
    }
    if (!expect(val, json::value_t::string, "a string", p, c)) continue;
    const auto s = val.get<std::string>();
    if (auto e = validation::label_value(s); !e.empty()) {
      c.add(p, "Invalid value: \"" + s + "\": " + e);
    }
    out[key] = s;
  }
  return out;
}

std::optional<LabelSelector::Op> parse_op(const std::string& s) {
  using Op = LabelSelector::Op;
  if (s == "In") return Op::kIn;
  if (s == "NotIn") return Op::kNotIn;
  if (s == "Exists") return Op::kExists;
  if (s == "DoesNotExist") return Op::kDoesNotExist;
  return std::nullopt;
}

std::optional<LabelSelector::Requirement> parse_requirement(const json& v, const std::string& path,
                                                            Ctx& c) {
  if (!expect(v, json::value_t::object, "an object", path, c)) return std::nullopt;
  check_known(v, path, {"key", "operator", "values"}, c);
  LabelSelector::Requirement r;
  auto key = get_string(v, "key", path + ".key", c);
  if (!key) {
    if (!field(v, "key")) c.add(path + ".key", "Required value");
  } else if (auto e = validation::qualified_name(*key); !e.empty()) {
    c.add(path + ".key", "Invalid value: \"" + *key + "\": " + e);
  }
  r.key = key.value_or("");
  auto op_text = get_string(v, "operator", path + ".operator", c);
  auto op = op_text ? parse_op(*op_text) : std::nullopt;
  if (!field(v, "operator")) c.add(path + ".operator", "Required value");
  if (op_text && !op) {
    c.add(path + ".operator", "Unsupported value: \"" + *op_text +
                                  "\": supported values: \"In\", \"NotIn\", \"Exists\", "
                                  "\"DoesNotExist\"");
  }
  if (const json* vals = field(v, "values");
      vals && expect(*vals, json::value_t::array, "a list of strings", path + ".values", c)) {
    for (size_t i = 0; i < vals->size(); ++i) {
      const std::string p = path + ".values[" + std::to_string(i) + "]";
      if (!expect((*vals)[i], json::value_t::string, "a string", p, c)) continue;
      r.values.push_back((*vals)[i].get<std::string>());
      if (auto e = validation::label_value(r.values.back()); !e.empty()) {
        c.add(p, "Invalid value: \"" + r.values.back() + "\": " + e);
      }
    }
  }
  if (!op) return std::nullopt;
  r.op = *op;
  const bool set_op = r.op == LabelSelector::Op::kIn || r.op == LabelSelector::Op::kNotIn;
  if (set_op && r.values.empty()) {
    c.add(path + ".values", "Required value: must be specified when `operator` is 'In' or 'NotIn'");
  } else if (!set_op && !r.values.empty()) {
    c.add(path + ".values",
          "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
  }
  return r;
}

LabelSelector parse_selector(const json& v, const std::string& path, Ctx& c) {
  LabelSelector sel;
  if (!expect(v, json::value_t::object, "an object", path, c)) return sel;
  check_known(v, path, {"matchLabels", "matchExpressions"}, c);
  sel.match_labels = parse_labels(field(v, "matchLabels"), path + ".matchLabels", c);
  const json* exprs = field(v, "matchExpressions");
  if (exprs && expect(*exprs, json::value_t::array, "a list", path + ".matchExpressions", c)) {
    for (size_t i = 0; i < exprs->size(); ++i) {
      const auto p = path + ".matchExpressions[" + std::to_string(i) + "]";
      if (auto r = parse_requirement((*exprs)[i], p, c)) sel.match_expressions.push_back(*r);
    }
  }
  return sel;
}

std::optional<common::Cidr> parse_cidr(const json& v, const std::string& path, Ctx& c) {
  if (!expect(v, json::value_t::string, "a string", path, c)) return std::nullopt;
  auto parsed = common::Cidr::parse(v.get<std::string>());
  if (!parsed) {
    c.add(path, "Invalid value: " + quoted(v) +
                    ": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)");
    return std::nullopt;
  }
  return parsed->cidr;  // host bits are masked, as the API server accepts them
}

std::optional<IpBlock> parse_ip_block(const json& v, const std::string& path, Ctx& c) {
  if (!expect(v, json::value_t::object, "an object", path, c)) return std::nullopt;
  check_known(v, path, {"cidr", "except"}, c);
  const json* cidr = field(v, "cidr");
  if (!cidr) {
    c.add(path + ".cidr", "Required value");
    return std::nullopt;
  }
  auto parsed = parse_cidr(*cidr, path + ".cidr", c);
  if (!parsed) return std::nullopt;
  IpBlock block{.cidr = *parsed, .except = {}, .cidr_text = cidr->get<std::string>()};
  const json* except = field(v, "except");
  if (!except || !expect(*except, json::value_t::array, "a list", path + ".except", c)) {
    return block;
  }
  for (size_t i = 0; i < except->size(); ++i) {
    const auto p = path + ".except[" + std::to_string(i) + "]";
    auto e = parse_cidr((*except)[i], p, c);
    if (!e) continue;
    // "must be a strict subset of `cidr`": same family, inside, and a longer prefix.
    if (!block.cidr.contains(*e) || e->prefix <= block.cidr.prefix) {
      c.add(p, "Invalid value: " + quoted((*except)[i]) + ": must be a strict subset of `cidr`");
      continue;
    }
    block.except.push_back(*e);
  }
  return block;
}

std::optional<Peer> parse_peer(const json& v, const std::string& path, Ctx& c) {
  if (!expect(v, json::value_t::object, "an object", path, c)) return std::nullopt;
  check_known(v, path, {"podSelector", "namespaceSelector", "ipBlock"}, c);
  Peer peer;
  int count = 0;
  if (const json* s = field(v, "podSelector")) {
    ++count;
    peer.pod_selector = parse_selector(*s, path + ".podSelector", c);
  }
  if (const json* s = field(v, "namespaceSelector")) {
    ++count;
    peer.namespace_selector = parse_selector(*s, path + ".namespaceSelector", c);
  }
  if (const json* b = field(v, "ipBlock")) {
    ++count;
    // Keep checking the rest of the peer even when the ipBlock is bad: every error counts.
    peer.ip_block = parse_ip_block(*b, path + ".ipBlock", c).value_or(IpBlock{});
  }
  if (count == 0) {
    c.add(path, "Required value: must specify a peer");
  } else if (count > 1 && peer.ip_block) {
    c.add(path, "Forbidden: may not specify both ipBlock and another peer");
  }
  return peer;
}

void check_port_number(int64_t n, const std::string& path, Ctx& c) {
  if (n < 1 || n > 65535) {
    c.add(path, "Invalid value: " + std::to_string(n) + ": must be between 1 and 65535, inclusive");
  }
}

std::optional<PolicyPort> parse_port(const json& v, const std::string& path, Ctx& c) {
  if (!expect(v, json::value_t::object, "an object", path, c)) return std::nullopt;
  check_known(v, path, {"protocol", "port", "endPort"}, c);
  PolicyPort out;
  if (auto proto = get_string(v, "protocol", path + ".protocol", c)) {
    auto p = parse_protocol(*proto);
    if (!p) {
      c.add(path + ".protocol",
            "Unsupported value: \"" + *proto + "\": supported values: \"SCTP\", \"TCP\", \"UDP\"");
    } else {
      out.protocol = *p;
    }
  }
  if (const json* port = field(v, "port")) {
    if (port->is_string()) {
      const auto name = port->get<std::string>();
      if (auto e = validation::port_name(name); !e.empty()) {
        c.add(path + ".port", "Invalid value: \"" + name + "\": " + e);
      }
      out.port = name;
    } else if (auto n = get_int(*port, path + ".port", c)) {
      check_port_number(*n, path + ".port", c);
      out.port = static_cast<int32_t>(*n);
    }
  }
  if (const json* end = field(v, "endPort")) {
    auto n = get_int(*end, path + ".endPort", c);
    if (!n) return std::nullopt;
    out.end_port = static_cast<int32_t>(*n);
    if (!out.port) {
      c.add(path + ".endPort", "Required value: may not be specified when `port` is not specified");
    } else if (!std::holds_alternative<int32_t>(*out.port)) {
      c.add(path + ".endPort", "Forbidden: may not be specified when `port` is non-numeric");
    } else if (*n < std::get<int32_t>(*out.port)) {
      c.add(path + ".endPort",
            "Invalid value: " + std::to_string(*n) + ": must be greater than or equal to `port`");
    } else {
      check_port_number(*n, path + ".endPort", c);
    }
  }
  return out;
}

std::vector<Rule> parse_rules(const json* v, const std::string& path, const char* peers_key,
                              Ctx& c) {
  std::vector<Rule> rules;
  if (!v || !expect(*v, json::value_t::array, "a list", path, c)) return rules;
  for (size_t i = 0; i < v->size(); ++i) {
    const auto rp = path + "[" + std::to_string(i) + "]";
    const json& r = (*v)[i];
    if (!expect(r, json::value_t::object, "an object", rp, c)) continue;
    check_known(r, rp, {peers_key, "ports"}, c);
    Rule rule;
    const auto pp = rp + "." + peers_key;
    if (const json* peers = field(r, peers_key);
        peers && expect(*peers, json::value_t::array, "a list", pp, c)) {
      for (size_t j = 0; j < peers->size(); ++j) {
        if (auto p = parse_peer((*peers)[j], pp + "[" + std::to_string(j) + "]", c)) {
          rule.peers.push_back(*p);
        }
      }
    }
    if (const json* ports = field(r, "ports");
        ports && expect(*ports, json::value_t::array, "a list", rp + ".ports", c)) {
      for (size_t j = 0; j < ports->size(); ++j) {
        if (auto p = parse_port((*ports)[j], rp + ".ports[" + std::to_string(j) + "]", c)) {
          rule.ports.push_back(*p);
        }
      }
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

void parse_policy_types(const json* v, NetworkPolicy& np, Ctx& c) {
  // Defaulting (API server): [Ingress], plus Egress when spec.egress is non-empty.
  np.ingress_type = true;
  np.egress_type = !np.egress.empty();
  if (!v || !expect(*v, json::value_t::array, "a list", "spec.policyTypes", c)) return;
  if (v->size() > 2) c.add("spec.policyTypes", "Invalid value: may not have more than 2 items");
  if (v->empty()) return;
  np.policy_types_explicit = true;
  np.ingress_type = np.egress_type = false;
  for (size_t i = 0; i < v->size(); ++i) {
    const auto p = "spec.policyTypes[" + std::to_string(i) + "]";
    if (!expect((*v)[i], json::value_t::string, "a string", p, c)) continue;
    const auto t = (*v)[i].get<std::string>();
    if (t == "Ingress") {
      np.ingress_type = true;
    } else if (t == "Egress") {
      np.egress_type = true;
    } else {
      c.add(p, "Unsupported value: \"" + t + "\": supported values: \"Egress\", \"Ingress\"");
    }
  }
}

// metadata.name and metadata.namespace; returns false when the name is unusable.
bool parse_meta(const json& obj, bool namespaced, std::string& ns, std::string& name, Ctx& c) {
  const json* meta = field(obj, "metadata");
  if (!meta) {
    c.add("metadata.name", "Required value: name or generateName is required");
    return false;
  }
  if (!expect(*meta, json::value_t::object, "an object", "metadata", c)) return false;
  auto n = get_string(*meta, "name", "metadata.name", c);
  if (!n) {
    if (!field(*meta, "name")) c.add("metadata.name", "Required value: name is required");
    return false;
  }
  name = *n;
  auto e = namespaced ? validation::dns1123_subdomain(name) : validation::dns1123_label(name);
  if (!e.empty()) c.add("metadata.name", "Invalid value: \"" + name + "\": " + e);
  if (namespaced) {
    ns = get_string(*meta, "namespace", "metadata.namespace", c).value_or("");
    if (ns.empty()) ns = kDefaultNamespace;
    if (auto ne = validation::dns1123_label(ns); !ne.empty()) {
      c.add("metadata.namespace", "Invalid value: \"" + ns + "\": " + ne);
    }
  }
  return true;
}

}  // namespace

std::optional<NetworkPolicy> parse_network_policy(const json& obj, FieldErrors& errors) {
  Ctx c{errors};
  NetworkPolicy np;
  if (!obj.is_object()) {
    c.add("", "must be an object");
    return std::nullopt;
  }
  parse_meta(obj, true, np.namespace_, np.name, c);
  const json* spec = field(obj, "spec");
  static const json kEmpty = json::object();
  if (!spec) spec = &kEmpty;  // no spec: selects every pod, denies all ingress
  if (!expect(*spec, json::value_t::object, "an object", "spec", c)) return std::nullopt;
  check_known(*spec, "spec", {"podSelector", "ingress", "egress", "policyTypes"}, c);
  if (const json* sel = field(*spec, "podSelector")) {
    np.pod_selector = parse_selector(*sel, "spec.podSelector", c);
  }
  np.ingress = parse_rules(field(*spec, "ingress"), "spec.ingress", "from", c);
  np.egress = parse_rules(field(*spec, "egress"), "spec.egress", "to", c);
  parse_policy_types(field(*spec, "policyTypes"), np, c);
  if (!c.clean()) return std::nullopt;
  return np;
}

namespace {

void parse_container_ports(const json* containers, const std::string& path, bool init_only,
                           Pod& pod, Ctx& c) {
  if (!containers || !expect(*containers, json::value_t::array, "a list", path, c)) return;
  for (size_t i = 0; i < containers->size(); ++i) {
    const json& ctr = (*containers)[i];
    const auto cp = path + "[" + std::to_string(i) + "]";
    if (!expect(ctr, json::value_t::object, "an object", cp, c)) continue;
    // Only restartable ("sidecar") init containers keep serving after start-up.
    if (init_only && get_string(ctr, "restartPolicy", cp + ".restartPolicy", c) != "Always") {
      continue;
    }
    const json* ports = field(ctr, "ports");
    if (!ports || !expect(*ports, json::value_t::array, "a list", cp + ".ports", c)) continue;
    for (size_t j = 0; j < ports->size(); ++j) {
      const json& p = (*ports)[j];
      const auto pp = cp + ".ports[" + std::to_string(j) + "]";
      if (!expect(p, json::value_t::object, "an object", pp, c)) continue;
      ContainerPort port;
      port.name = get_string(p, "name", pp + ".name", c).value_or("");
      if (!port.name.empty()) {
        if (auto e = validation::port_name(port.name); !e.empty()) {
          c.add(pp + ".name", "Invalid value: \"" + port.name + "\": " + e);
        }
      }
      const json* num = field(p, "containerPort");
      if (!num) {
        c.add(pp + ".containerPort", "Required value");
        continue;
      }
      auto n = get_int(*num, pp + ".containerPort", c);
      if (!n) continue;
      check_port_number(*n, pp + ".containerPort", c);
      port.port = static_cast<uint16_t>(*n);
      if (auto proto = get_string(p, "protocol", pp + ".protocol", c)) {
        auto pr = parse_protocol(*proto);
        if (!pr) {
          c.add(pp + ".protocol", "Unsupported value: \"" + *proto +
                                      "\": supported values: \"SCTP\", \"TCP\", \"UDP\"");
          continue;
        }
        port.protocol = *pr;
      }
      pod.ports.push_back(port);
    }
  }
}

void add_ip(const json& v, const std::string& path, Pod& pod, Ctx& c) {
  if (!expect(v, json::value_t::string, "a string", path, c)) return;
  const auto text = v.get<std::string>();
  if (text.empty()) return;
  auto ip = common::IpAddr::parse(text);
  if (!ip) {
    c.add(path, "Invalid value: \"" + text + "\": must be a valid IP address");
    return;
  }
  if (std::find(pod.ips.begin(), pod.ips.end(), *ip) == pod.ips.end()) pod.ips.push_back(*ip);
}

void parse_pod_status(const json* status, Pod& pod, Ctx& c) {
  if (!status || !expect(*status, json::value_t::object, "an object", "status", c)) return;
  pod.phase = get_string(*status, "phase", "status.phase", c).value_or("");
  if (const json* ip = field(*status, "podIP")) add_ip(*ip, "status.podIP", pod, c);
  const json* ips = field(*status, "podIPs");
  if (!ips || !expect(*ips, json::value_t::array, "a list", "status.podIPs", c)) return;
  for (size_t i = 0; i < ips->size(); ++i) {
    const auto p = "status.podIPs[" + std::to_string(i) + "]";
    if (!expect((*ips)[i], json::value_t::object, "an object", p, c)) continue;
    if (const json* ip = field((*ips)[i], "ip")) add_ip(*ip, p + ".ip", pod, c);
  }
}

}  // namespace

std::optional<std::int64_t> parse_timestamp(std::string_view text) {
  // RFC 3339 as the API server writes it: 2024-05-01T12:34:56Z (fractions and offsets are
  // not produced by it; anything else is "unknown").
  std::tm tm{};
  int consumed = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != static_cast<int>(s.size())) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::optional<Pod> parse_pod(const json& obj, FieldErrors& errors) {
  Ctx c{errors};
  Pod pod;
  if (!obj.is_object()) {
    c.add("", "must be an object");
    return std::nullopt;
  }
  if (!parse_meta(obj, true, pod.namespace_, pod.name, c)) return std::nullopt;
  const json& meta = obj["metadata"];
  pod.labels = parse_labels(field(meta, "labels"), "metadata.labels", c);
  pod.terminating = field(meta, "deletionTimestamp") != nullptr;
  if (const json* created = field(meta, "creationTimestamp"); created && created->is_string()) {
    pod.created = parse_timestamp(created->get<std::string>()).value_or(0);
  }
  if (const json* spec = field(obj, "spec");
      spec && expect(*spec, json::value_t::object, "an object", "spec", c)) {
    pod.node = get_string(*spec, "nodeName", "spec.nodeName", c).value_or("");
    if (const json* hn = field(*spec, "hostNetwork");
        hn && expect(*hn, json::value_t::boolean, "a boolean", "spec.hostNetwork", c)) {
      pod.host_network = hn->get<bool>();
    }
    parse_container_ports(field(*spec, "containers"), "spec.containers", false, pod, c);
    parse_container_ports(field(*spec, "initContainers"), "spec.initContainers", true, pod, c);
  }
  parse_pod_status(field(obj, "status"), pod, c);
  if (!c.clean()) return std::nullopt;
  return pod;
}

std::optional<Namespace> parse_namespace(const json& obj, FieldErrors& errors) {
  Ctx c{errors};
  Namespace ns;
  if (!obj.is_object()) {
    c.add("", "must be an object");
    return std::nullopt;
  }
  std::string unused;
  if (!parse_meta(obj, false, unused, ns.name, c)) return std::nullopt;
  ns.labels = parse_labels(field(obj["metadata"], "labels"), "metadata.labels", c);
  ns.labels[kNamespaceNameLabel] = ns.name;  // set (and overwritten) by the API server
  if (!c.clean()) return std::nullopt;
  return ns;
}

}  // namespace policy
