#include "common.h"

#include <algorithm>
#include <iostream>
#include <set>

namespace dry_run {

std::optional<Format> parse_format(const std::string& s, bool tables) {
  if (s == "text") return Format::kText;
  if (s == "json") return Format::kJson;
  if (tables && s == "md") return Format::kMarkdown;
  if (tables && s == "csv") return Format::kCsv;
  return std::nullopt;
}

std::optional<policy::LoadResult> load_input(const InputOptions& in, const char* what) {
  auto r = policy::load_paths(in.paths);
  for (const auto& e : r.errors) std::cerr << "error: " << e.str() << "\n";
  if (!r.errors.empty() && !in.skip_invalid) {
    std::cerr << what << ": " << r.errors.size()
              << " invalid object(s); fix them, or pass --skip-invalid to leave them out "
                 "(as the API server would have refused them)\n";
    return std::nullopt;
  }
  if (!r.warnings.empty()) {
    std::cerr << "note: " << what << " has " << r.warnings.size()
              << " warning(s); `policy-dry-run validate` lists them\n";
  }
  return r;
}

std::optional<policy::Endpoint> resolve_endpoint(const policy::Cluster& c, const std::string& s,
                                                 std::string& error) {
  if (auto ip = common::IpAddr::parse(s)) {
    policy::Endpoint ep{c.find_pod_by_ip(*ip), *ip};
    return ep;
  }
  if (s.find('/') == std::string::npos) {
    error = "\"" + s + "\" is neither NAMESPACE/POD nor an IP address";
    return std::nullopt;
  }
  const policy::Pod* pod = c.find_pod(s);
  if (!pod) {
    error = "no pod " + s + " in the input";
    return std::nullopt;
  }
  return policy::Endpoint{pod, std::nullopt};
}

std::vector<PortProto> mentioned_ports(const std::vector<const policy::Cluster*>& clusters) {
  std::set<PortProto> out;
  auto add = [&](int64_t p, policy::Protocol proto) {
    if (p >= 1 && p <= 65535) out.insert({static_cast<uint16_t>(p), proto});
  };
  for (const auto* c : clusters) {
    for (const auto& pod : c->pods) {
      for (const auto& cp : pod.ports) add(cp.port, cp.protocol);
    }
    for (const auto& np : c->policies) {
      for (const auto* rules : {&np.ingress, &np.egress}) {
        for (const auto& rule : *rules) {
          for (const auto& p : rule.ports) {
            const auto* n = p.port ? std::get_if<int32_t>(&*p.port) : nullptr;
            if (!n) continue;
            add(*n, p.protocol);
            if (p.end_port) add(*p.end_port, p.protocol);
          }
        }
      }
    }
  }
  return {out.begin(), out.end()};
}

std::vector<const policy::Pod*> matrix_pods(const policy::Cluster& c) {
  std::vector<const policy::Pod*> out;
  for (const auto& p : c.pods) {
    if (p.selectable()) out.push_back(&p);
  }
  return out;
}

std::optional<common::Family> parse_family(const std::string& s, std::string& error) {
  if (s.empty() || s == "auto") return std::nullopt;
  if (s == "ipv4" || s == "4") return common::Family::kV4;
  if (s == "ipv6" || s == "6") return common::Family::kV6;
  error = "--family must be ipv4, ipv6 or auto";
  return std::nullopt;
}

namespace {

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

std::string join_row(const std::vector<std::string>& row, Format f) {
  std::string out = f == Format::kMarkdown ? "|" : "";
  for (size_t i = 0; i < row.size(); ++i) {
    if (f == Format::kCsv) {
      out += (i ? "," : "") + csv_cell(row[i]);
    } else if (f == Format::kMarkdown) {
      out += " " + row[i] + " |";
    } else {
      out += (i ? "\t" : "") + row[i];
    }
  }
  return out + "\n";
}

}  // namespace

std::string render_table(const Table& t, Format f) {
  std::string out = join_row(t.header, f);
  if (f == Format::kMarkdown) {
    std::vector<std::string> rule(t.header.size(), "---");
    out += join_row(rule, f);
  }
  for (const auto& r : t.rows) out += join_row(r, f);
  return out;
}

}  // namespace dry_run
