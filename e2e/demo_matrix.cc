#include "demo_matrix.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "sys.h"

namespace demo {

namespace {

using json = nlohmann::json;

std::string port_id(int port, const std::string& protocol) {
  return std::to_string(port) + "/" + protocol;
}

// The port's name when every pod serving it gives it the same one ("http"), else none.
std::string common_name(const std::vector<const ExamplePod*>& pods, int port,
                        const std::string& protocol) {
  std::set<std::string> names;
  for (const auto* p : pods) {
    for (const auto& d : p->ports) {
      if (d.port == port && d.protocol == protocol) names.insert(d.name);
    }
  }
  return names.size() == 1 ? *names.begin() : "";
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string cell(const Term& term, const std::string& mark, size_t width) {
  const size_t left = (width - 1) / 2;
  std::string styled = mark == "X" ? term.red(mark) : mark == "-" ? term.dim(mark) : mark;
  return std::string(left, ' ') + styled + std::string(width - 1 - left, ' ');
}

// Width of a group's block: its columns side by side, or its title if that is wider.
size_t block_width(const FlowGroup& g, const Names& names) {
  size_t cols = 0;
  for (const auto& to : g.to) cols += names.short_name.at(to).size() + (cols ? 1 : 0);
  return std::max(cols, g.title.size());
}

}  // namespace

std::vector<FlowGroup> flow_groups(const ExampleCluster& ex, const ExternalOptions& ext) {
  const auto running = ex.running();
  std::set<std::pair<int, std::string>> ports;
  for (const auto* p : running) {
    for (const auto& d : p->ports) {
      if (d.protocol != "SCTP") ports.emplace(d.port, d.protocol);
    }
  }
  std::vector<FlowGroup> out;
  for (const auto& [port, protocol] : ports) {
    FlowGroup g{.id = port_id(port, protocol), .port = port, .protocol = protocol};
    const std::string name = common_name(running, port, protocol);
    g.title = g.id + (name.empty() ? "" : " " + name);
    for (const auto* p : running) {
      if (p->serves(port, protocol)) g.to.push_back(p->key);
    }
    out.push_back(std::move(g));
  }
  out.push_back({.id = port_id(ext.port, "TCP") + " external",
                 .title = port_id(ext.port, "TCP") + " outside",
                 .port = ext.port,
                 .external = true,
                 .to = ext.ips});
  return out;
}

const FlowGroup& group(const std::vector<FlowGroup>& groups, const std::string& id) {
  for (const auto& g : groups) {
    if (g.id == id) return g;
  }
  throw std::runtime_error("no flows on " + id + " in this cluster");
}

std::vector<std::string> Predictor::matrix_args(const std::string& file,
                                                const std::vector<FlowGroup>& groups) const {
  std::vector<std::string> args = {"matrix", "-f", file};
  for (const auto& g : groups) {
    if (!g.external) args.insert(args.end(), {"--port", g.id});
  }
  args.insert(args.end(), {"-o", "json"});
  return args;
}

std::vector<std::string> Predictor::commands(const std::string& file,
                                             const std::vector<FlowGroup>& groups) const {
  std::vector<std::string> out = {"policy-dry-run " + e2e::join(matrix_args(file, groups), " ")};
  for (const auto& g : groups) {
    if (!g.external) continue;
    std::string also;
    for (size_t i = 1; i < g.to.size(); ++i)
      also += (i > 1 ? ", " : "; and ") + ("--to " + g.to[i]);
    out.push_back("policy-dry-run eval -f " + file + " --from NAMESPACE/POD --to " + g.to.at(0) +
                  " --port " + std::to_string(g.port) + "   # for every pod" + also);
  }
  return out;
}

Verdicts Predictor::predict(const std::string& snapshot, const std::vector<FlowGroup>& groups,
                            const std::vector<std::string>& from) const {
  std::vector<std::string> argv = matrix_args(snapshot, groups);
  argv.insert(argv.begin(), dry_run_);
  const json out = json::parse(e2e::must_run(argv));
  Verdicts v;
  for (const auto& m : out.at("matrices")) {
    const FlowGroup& g =
        group(groups, port_id(m.at("port").get<int>(), m.at("protocol").get<std::string>()));
    std::set<std::pair<std::string, std::string>> denied;
    for (const auto& d : m.at("denied")) denied.emplace(d.at(0), d.at(1));
    for (const auto& src : from) {
      for (const auto& dst : g.to) {
        if (src != dst) v[{g.id, src, dst}] = {.allowed = !denied.count({src, dst})};
      }
    }
  }
  for (const auto& g : groups) {
    if (!g.external) continue;
    for (const auto& src : from) {
      for (const auto& ip : g.to) {
        const e2e::RunResult r = e2e::run({dry_run_, "eval", "-f", snapshot, "--from", src, "--to",
                                           ip, "--port", std::to_string(g.port)});
        if (r.rc != 0 && r.rc != 1)
          throw std::runtime_error("policy-dry-run eval failed (rc " + std::to_string(r.rc) +
                                   "): " + r.err);
        v[{g.id, src, ip}] = {.allowed = r.rc == 0};
      }
    }
  }
  return v;
}

std::string Predictor::explain(const std::string& snapshot, const std::string& from,
                               const std::string& to, const std::string& port) const {
  const e2e::RunResult r = e2e::run(
      {dry_run_, "eval", "-f", snapshot, "--from", from, "--to", to, "--port", port, "--explain"});
  if (r.rc != 0 && r.rc != 1) throw std::runtime_error("policy-dry-run eval: " + r.err);
  return r.out;
}

Verdicts measure(const e2e::Cluster& cluster, const std::vector<FlowGroup>& groups,
                 const std::vector<std::string>& from, const MeasureOptions& opt) {
  std::vector<e2e::ProbeTask> tasks;
  std::vector<std::tuple<std::string, std::string, std::string>> keys;
  for (const auto& g : groups) {
    for (const auto& src : from) {
      for (const auto& dst : g.to) {
        if (src == dst) continue;
        const bool tcp = g.protocol == "TCP";
        tasks.push_back({.from_netns_fd = cluster.pod(src).netns_fd,
                         .dst_ip = g.external ? dst : cluster.pod(dst).spec.ips.at(0),
                         .port = g.port,
                         .protocol = g.protocol,
                         .expect_reply = !tcp         ? ""
                                         : g.external ? opt.external_name
                                                      : dst});
        keys.emplace_back(g.id, src, dst);
      }
    }
  }
  const auto outcomes = e2e::probe_all(tasks, opt.prober);
  Verdicts v;
  for (size_t i = 0; i < tasks.size(); ++i)
    v[keys[i]] = {.allowed = outcomes[i].connected, .detail = outcomes[i].detail};
  return v;
}

Names names_of(const ExampleCluster& ex, const ExternalOptions& ext) {
  Names n;
  for (const auto& p : ex.pods) {
    n.short_name[p.key] = p.short_name;
    n.ns[p.key] = p.ns;
  }
  for (const auto& ip : ext.ips) n.short_name[ip] = "ext" + ip.substr(ip.rfind('.'));
  return n;
}

std::string render(const Term& term, const std::vector<const FlowGroup*>& shown,
                   const std::vector<std::string>& rows, const Verdicts& v, const Names& names) {
  size_t ns_w = 0, name_w = std::string("from \\ to").size();
  for (const auto& r : rows) {
    ns_w = std::max(ns_w, names.ns.at(r).size());
    name_w = std::max(name_w, names.short_name.at(r).size());
  }
  const std::string gap = "   ";
  std::string titles = std::string(ns_w + 1 + name_w, ' '), labels = pad("", ns_w + 1);
  labels += pad("from \\ to", name_w);
  for (const auto* g : shown) {
    const size_t w = block_width(*g, names);
    titles += gap + pad(g->title, w);
    std::string cols;
    for (const auto& to : g->to) cols += (cols.empty() ? "" : " ") + names.short_name.at(to);
    labels += gap + pad(cols, w);
  }
  auto trim = [](std::string s) {
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  };
  std::string out = term.bold(trim(titles)) + "\n" + term.bold(trim(labels)) + "\n";
  std::string last_ns;
  for (const auto& r : rows) {
    const std::string& ns = names.ns.at(r);
    std::string line =
        pad(ns == last_ns ? "" : ns, ns_w) + " " + pad(names.short_name.at(r), name_w);
    last_ns = ns;
    for (const auto* g : shown) {
      std::string block;
      size_t used = 0;
      for (const auto& to : g->to) {
        const size_t w = names.short_name.at(to).size();
        const auto it = v.find({g->id, r, to});
        const std::string mark = r == to              ? "-"
                                 : it == v.end()      ? "?"
                                 : it->second.allowed ? "."
                                                      : "X";
        block += (block.empty() ? "" : " ") + cell(term, mark, w);
        used += w + (used ? 1 : 0);
      }
      line += gap + block + std::string(block_width(*g, names) - used, ' ');
    }
    out += trim(line) + "\n";
  }
  return out;
}

std::vector<std::string> differences(const Verdicts& predicted, const Verdicts& measured) {
  std::vector<std::string> out;
  for (const auto& [key, p] : predicted) {
    const auto& [id, from, to] = key;
    const auto m = measured.find(key);
    if (m == measured.end()) {
      out.push_back(from + " -> " + to + " " + id + ": predicted, not measured");
    } else if (m->second.allowed != p.allowed) {
      out.push_back(
          from + " -> " + to + " " + id + ": policy-dry-run says " +
          (p.allowed ? "allowed" : "denied") + ", the kernel " +
          (m->second.allowed ? "let it connect" : "blocked it (" + m->second.detail + ")"));
    }
  }
  for (const auto& [key, m] : measured) {
    if (!predicted.count(key))
      out.push_back(std::get<1>(key) + " -> " + std::get<2>(key) + " " + std::get<0>(key) +
                    ": measured, not predicted");
  }
  return out;
}

}  // namespace demo
