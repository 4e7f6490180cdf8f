#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "commands.h"

namespace dry_run {
namespace {

struct Change {
  const policy::Pod* from;
  const policy::Pod* to;
  PortProto port;
  bool after;
  std::string why;  // the new verdict's deciding side
};

std::string deciding(const policy::Verdict& v) {
  if (!v.egress.allowed) return v.egress.summary;
  if (!v.ingress.allowed) return v.ingress.summary;
  for (const auto* side : {&v.ingress, &v.egress}) {
    for (const auto& r : side->rules) {
      if (r.matched) {
        return r.policy + " spec." + policy::to_string(side->direction) + "[" +
               std::to_string(r.rule) + "] admits it";
      }
    }
  }
  return "neither side is isolated";
}

}  // namespace

int run_diff(const DiffOptions& o) {
  auto base = load_input(o.base, "base (-f)");
  if (!base) return kInput;
  auto with = load_input(o.with, "new (--with)");
  if (!with) return kInput;
  std::string error;
  const auto family = parse_family(o.family, error);
  if (!error.empty()) {
    std::cerr << "error: " << error << "\n";
    return kUsage;
  }
  const auto& bc = base->cluster;
  const auto& nc = with->cluster;
  const policy::Evaluator before(bc), after(nc);
  // Pods present (and live) on both sides, paired by namespace/name.
  std::vector<std::pair<const policy::Pod*, const policy::Pod*>> pods;
  for (const auto* np : matrix_pods(nc)) {
    const auto* bp = bc.find_pod(np->key());
    if (bp && bp->selectable()) {
      pods.emplace_back(bp, np);
    } else {
      std::cerr << "note: " << np->key()
                << " is only in the new input; its flows are not compared\n";
    }
  }
  const auto ports = o.ports.empty() ? mentioned_ports({&bc, &nc}) : o.ports;
  std::vector<Change> changes;
  for (const auto& pp : ports) {
    for (const auto& [bs, ns] : pods) {
      for (const auto& [bd, nd] : pods) {
        if (bs == bd) continue;
        const bool was = before.allowed(before.pod_flow(*bs, *bd, pp.port, pp.protocol, family));
        const auto flow = after.pod_flow(*ns, *nd, pp.port, pp.protocol, family);
        if (was == after.allowed(flow)) continue;
        changes.push_back({ns, nd, pp, !was, deciding(after.evaluate(flow))});
      }
    }
  }
  if (o.format == Format::kJson) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& ch : changes) {
      out.push_back({{"from", ch.from->key()},
                     {"to", ch.to->key()},
                     {"port", ch.port.port},
                     {"protocol", policy::to_string(ch.port.protocol)},
                     {"before", ch.after ? "denied" : "allowed"},
                     {"after", ch.after ? "allowed" : "denied"},
                     {"reason", ch.why}});
    }
    std::cout << nlohmann::json{{"changes", out},
                                {"ports_compared", ports.size()},
                                {"pods_compared", pods.size()}}
                     .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    Table t{{"from", "to", "port", "before", "after", "why (new)"}, {}};
    for (const auto& ch : changes) {
      t.rows.push_back({ch.from->key(), ch.to->key(), ch.port.str(),
                        ch.after ? "denied" : "allowed", ch.after ? "allowed" : "denied", ch.why});
    }
    if (o.format == Format::kText && changes.empty()) {
      std::cout << "no flow changes its verdict (" << pods.size() << " pods, " << ports.size()
                << " port/protocol pairs compared)\n";
    } else {
      std::cout << render_table(t, o.format);
      if (o.format == Format::kText) std::cout << changes.size() << " flow(s) change\n";
    }
  }
  return changes.empty() ? kOk : kNegative;
}

}  // namespace dry_run
