#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "policy/explain.h"

namespace dry_run {
namespace {

using policy::Protocol;

// Picks addresses for pod endpoints: the family of the other end's address when it has one.
void choose_addresses(policy::Flow& f, std::optional<common::Family> family) {
  if (f.src.pod && f.dst.pod && !f.src.ip && !f.dst.ip) {
    const auto chosen =
        policy::Evaluator::pod_flow(*f.src.pod, *f.dst.pod, f.port, f.protocol, family);
    f.src.ip = chosen.src.ip;
    f.dst.ip = chosen.dst.ip;
    return;
  }
  auto fill = [&](policy::Endpoint& ep, const policy::Endpoint& other) {
    if (!ep.pod || ep.ip) return;
    const auto want = other.ip ? std::optional(other.ip->family) : family;
    for (const auto& ip : ep.pod->ips) {
      if (!want || ip.family == *want) {
        ep.ip = ip;
        return;
      }
    }
  };
  fill(f.src, f.dst);
  fill(f.dst, f.src);
}

// Resolves --port/--protocol; a named port resolves on the destination pod.
bool resolve_port(const EvalOptions& o, policy::Flow& f, std::string& note, std::string& error) {
  std::optional<Protocol> proto;
  if (!o.protocol.empty()) {
    proto = policy::parse_protocol(o.protocol);
    if (!proto) {
      error = "--protocol must be TCP, UDP or SCTP";
      return false;
    }
  }
  if (!o.port.empty() && o.port.find_first_not_of("0123456789") == std::string::npos) {
    const long n = o.port.size() > 5 ? 0 : std::stol(o.port);
    if (n < 1 || n > 65535) {
      error = "--port must be between 1 and 65535";
      return false;
    }
    f.port = static_cast<uint16_t>(n);
    f.protocol = proto.value_or(Protocol::kTCP);
    return true;
  }
  if (!f.dst.pod) {
    error = "named port \"" + o.port + "\" needs a destination pod to resolve on";
    return false;
  }
  const policy::ContainerPort* found = nullptr;
  for (const auto& cp : f.dst.pod->ports) {
    if (cp.name != o.port || (proto && cp.protocol != *proto)) continue;
    if (found) {
      error = "port name " + o.port + " is declared for several protocols; pass --protocol";
      return false;
    }
    found = &cp;
  }
  if (!found) {
    error = f.dst.pod->key() + " declares no port named " + o.port;
    return false;
  }
  f.port = found->port;
  f.protocol = found->protocol;
  note = "named port " + o.port + " resolves to " + policy::to_string(f.protocol) + "/" +
         std::to_string(f.port) + " on " + f.dst.pod->key();
  return true;
}

}  // namespace

int run_eval(const EvalOptions& o) {
  auto loaded = load_input(o.input);
  if (!loaded) return kInput;
  const policy::Cluster& c = loaded->cluster;
  std::string error;
  auto src = resolve_endpoint(c, o.from, error);
  auto dst = src ? resolve_endpoint(c, o.to, error) : std::nullopt;
  const auto family = parse_family(o.family, error);
  policy::Flow flow;
  std::string note;
  if (src && dst) {
    flow.src = *src;
    flow.dst = *dst;
  }
  if (!error.empty() || !src || !dst || !resolve_port(o, flow, note, error)) {
    std::cerr << "error: " << error << "\n";
    return kUsage;
  }
  choose_addresses(flow, family);
  const policy::Evaluator ev(c);
  const auto v = ev.evaluate(flow);
  if (o.format == Format::kJson) {
    auto j = policy::verdict_json(c, flow, v);
    if (!note.empty()) j["note"] = note;
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else if (o.explain) {
    if (!note.empty()) std::cout << "(" << note << ")\n";
    std::cout << policy::explain_text(c, flow, v);
  } else {
    const auto& decisive = !v.egress.allowed ? v.egress : v.ingress;
    std::cout << (v.allowed ? "ALLOWED" : "DENIED") << ": " << flow.src.str() << " -> "
              << flow.dst.str() << " " << policy::to_string(flow.protocol) << "/" << flow.port
              << " (" << decisive.summary << "; --explain for details)\n";
  }
  return v.allowed ? kOk : kNegative;
}

}  // namespace dry_run
