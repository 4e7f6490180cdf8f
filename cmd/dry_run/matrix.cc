#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"

namespace dry_run {
namespace {

struct Matrix {
  PortProto port;
  std::vector<const policy::Pod*> pods;
  std::vector<std::vector<bool>> allowed;  // [from][to]; self cells are not judged
};

Matrix compute(const policy::Evaluator& ev, const std::vector<const policy::Pod*>& pods,
               PortProto pp, std::optional<common::Family> family) {
  Matrix m{pp, pods, std::vector<std::vector<bool>>(pods.size(), std::vector<bool>(pods.size()))};
  for (size_t i = 0; i < pods.size(); ++i) {
    for (size_t j = 0; j < pods.size(); ++j) {
      if (i == j) continue;
      m.allowed[i][j] =
          ev.allowed(policy::Evaluator::pod_flow(*pods[i], *pods[j], pp.port, pp.protocol, family));
    }
  }
  return m;
}

// Streams {"port":..,"protocol":..,"pods":[..],"denied":[[from,to],..]}: a 1k-pod matrix has
// up to a million denied pairs, too many to build as a JSON tree first.
void write_json(const Matrix& m, std::ostream& out) {
  std::vector<std::string> names;
  for (const auto* p : m.pods) names.push_back(nlohmann::json(p->key()).dump());
  out << "{\"port\":" << m.port.port << ",\"protocol\":\"" << policy::to_string(m.port.protocol)
      << "\",\"pods\":[";
  for (size_t i = 0; i < names.size(); ++i) out << (i ? "," : "") << names[i];
  out << "],\"denied\":[";
  bool first = true;
  for (size_t i = 0; i < m.pods.size(); ++i) {
    for (size_t j = 0; j < m.pods.size(); ++j) {
      if (i == j || m.allowed[i][j]) continue;
      out << (first ? "" : ",") << "[" << names[i] << "," << names[j] << "]";
      first = false;
    }
  }
  out << "]}";
}

Table to_table(const Matrix& m) {
  // Upstream e2e truth-table layout: rows are sources, columns destinations.
  Table t;
  t.header.push_back(m.port.str());
  for (const auto* p : m.pods) t.header.push_back(p->key());
  for (size_t i = 0; i < m.pods.size(); ++i) {
    std::vector<std::string> row{m.pods[i]->key()};
    for (size_t j = 0; j < m.pods.size(); ++j) {
      row.push_back(i == j ? "-" : m.allowed[i][j] ? "." : "X");
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

size_t count_denied(const Matrix& m) {
  size_t n = 0;
  for (size_t i = 0; i < m.pods.size(); ++i) {
    for (size_t j = 0; j < m.pods.size(); ++j) n += i != j && !m.allowed[i][j];
  }
  return n;
}

}  // namespace

int run_matrix(const MatrixOptions& o) {
  auto loaded = load_input(o.input);
  if (!loaded) return kInput;
  std::string error;
  const auto family = parse_family(o.family, error);
  if (!error.empty()) {
    std::cerr << "error: " << error << "\n";
    return kUsage;
  }
  const auto& c = loaded->cluster;
  const policy::Evaluator ev(c);
  const auto pods = matrix_pods(c);
  if (pods.size() != c.pods.size()) {
    std::cerr << "note: " << c.pods.size() - pods.size()
              << " pod(s) left out of the matrix (hostNetwork or finished)\n";
  }
  const auto ports = o.ports.empty() ? mentioned_ports({&c}) : o.ports;
  if (ports.empty()) {
    std::cerr << "error: no --port given and the input mentions no port\n";
    return kUsage;
  }
  if (o.format == Format::kJson) std::cout << "{\"matrices\":[";
  for (const auto& pp : ports) {
    const Matrix m = compute(ev, pods, pp, family);
    if (o.format == Format::kJson) {
      if (&pp != &ports.front()) std::cout << ",";
      write_json(m, std::cout);
      continue;
    }
    if (o.format == Format::kText) {
      std::cout << "Reachability " << pp.str() << " (rows: from, columns: to; . allowed, X denied,"
                << " - self, not judged)\n";
    } else if (o.format == Format::kMarkdown) {
      std::cout << "### Reachability " << pp.str() << "\n\n";
    }
    std::cout << render_table(to_table(m), o.format);
    if (o.format == Format::kText) {
      const size_t pairs = pods.size() * (pods.size() ? pods.size() - 1 : 0);
      std::cout << count_denied(m) << " of " << pairs << " pairs denied\n";
    }
    if (o.format != Format::kCsv || &pp != &ports.back()) std::cout << "\n";
  }
  if (o.format == Format::kJson) std::cout << "]}\n";
  return kOk;
}

}  // namespace dry_run
