// The demo's reachability matrices: which flows it judges (per port, from every running pod to
// the pods that serve that port, and to the external addresses), what policy-dry-run predicts
// for them from a snapshot of the API server, what real connections from inside the pods do,
// how both print, and where they differ.
#pragma once

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "cluster.h"
#include "demo_cluster.h"
#include "demo_network.h"
#include "demo_term.h"
#include "prober.h"

namespace demo {

// One port towards the pods that declare it, or the external addresses on their port.
struct FlowGroup {
  std::string id;     // "8080/TCP", "443/TCP external"
  std::string title;  // "8080/TCP http"
  int port = 0;
  std::string protocol = "TCP";
  bool external = false;
  std::vector<std::string> to;  // pod keys, or external IPs
};

struct Verdict {
  bool allowed = false;
  std::string detail;  // measured: why a connection failed ("connect timeout")
};
// (group id, from pod key, to pod key or IP) -> verdict. Self pairs are never judged.
using Verdicts = std::map<std::tuple<std::string, std::string, std::string>, Verdict>;

// Every port the running pods declare (SCTP aside: this kernel has no SCTP sockets), then
// the external host's port.
std::vector<FlowGroup> flow_groups(const ExampleCluster& ex, const ExternalOptions& ext);
const FlowGroup& group(const std::vector<FlowGroup>& groups, const std::string& id);

class Predictor {
 public:
  explicit Predictor(std::string dry_run) : dry_run_(std::move(dry_run)) {}
  // `policy-dry-run matrix -o json` for the pod ports, `eval` per pod for the external ones.
  Verdicts predict(const std::string& snapshot, const std::vector<FlowGroup>& groups,
                   const std::vector<std::string>& from) const;
  // The command lines predict() runs, as a reader would type them (FILE for the snapshot).
  std::vector<std::string> commands(const std::string& file,
                                    const std::vector<FlowGroup>& groups) const;
  // `policy-dry-run eval ... --explain`: its output, and whether it allowed the flow.
  std::string explain(const std::string& snapshot, const std::string& from, const std::string& to,
                      const std::string& port) const;

 private:
  std::vector<std::string> matrix_args(const std::string& file,
                                       const std::vector<FlowGroup>& groups) const;
  std::string dry_run_;
};

struct MeasureOptions {
  e2e::ProberOptions prober;
  std::string external_name;  // what the external server answers
};

// Real connections from inside each source pod (TCP connect + the server's name, UDP echo).
Verdicts measure(const e2e::Cluster& cluster, const std::vector<FlowGroup>& groups,
                 const std::vector<std::string>& from, const MeasureOptions& opt);

// Column and row labels: pods by short name, external IPs by a short form ("ext.10").
struct Names {
  std::map<std::string, std::string> short_name;  // pod key or IP -> label
  std::map<std::string, std::string> ns;          // pod key -> namespace
};
Names names_of(const ExampleCluster& ex, const ExternalOptions& ext);

// The groups side by side: rows are sources, columns destinations; "." connects, "X" denied,
// "-" the pod itself.
std::string render(const Term& term, const std::vector<const FlowGroup*>& shown,
                   const std::vector<std::string>& rows, const Verdicts& v, const Names& names);

// "shop/web-abcde -> payments/api-0 8080/TCP: predicted allowed, measured denied (timeout)"
std::vector<std::string> differences(const Verdicts& predicted, const Verdicts& measured);

}  // namespace demo
