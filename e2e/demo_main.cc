// nftpolicy-demo: NetworkPolicy explained by watching it. Builds the cluster of
// examples/cluster.yaml in network namespaces (pods wired by the CNI bridge plugin), starts the
// API server stand-in and one nftpolicy-agent per node, then walks through examples/policies
// with kubectl: per step, policy-dry-run's prediction, then the matrix measured with real
// connections, and whether they agree; last, an established connection cut by a change.
// Cleans up after itself, also on Ctrl-C. See scripts/demo.sh.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cluster.h"
#include "demo_cluster.h"
#include "demo_control.h"
#include "demo_matrix.h"
#include "demo_network.h"
#include "demo_session.h"
#include "demo_steps.h"
#include "demo_term.h"
#include "demo_walkthrough.h"
#include "sys.h"

namespace fs = std::filesystem;
using namespace demo;

namespace {

constexpr int kSkip = 77;  // ctest SKIP_RETURN_CODE
constexpr size_t kWidth = 96;

struct Flags {
  std::string examples = NPE2E_SOURCE_DIR "/examples";
  std::string agent, dry_run, pod_server;  // default: next to this binary in the build tree
  std::string standin = NPE2E_SOURCE_DIR "/e2e/apiserver/apiserver.py";
  std::string kubectl = "kubectl", cni_bin = "/usr/lib/cni";
  double pace = 1.0;
  int timeout_ms = 1000;
  bool keep = false, no_color = false;
};

// After Ctrl-C the signal thread cleans up and ends the process; until it does, the main
// thread must not report the steps it could not finish (or the errors that caused).
void wait_if_interrupted() {
  while (e2e::interrupted()) std::this_thread::sleep_for(std::chrono::seconds(1));
}

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string secs(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

// The pods' status is written with `kubectl apply --subresource=status`, new in kubectl 1.24
// (Debian 12's kubernetes-client is 1.20).
std::string kubectl_too_old(const std::string& kubectl) {
  const e2e::RunResult r = e2e::run({kubectl, "version", "--client", "-o", "json"});
  try {
    const auto v = nlohmann::json::parse(r.out).at("clientVersion");
    const int major = std::stoi(v.at("major").get<std::string>());
    const int minor = std::stoi(v.at("minor").get<std::string>());  // "32+" reads as 32
    if (major == 1 && minor < 24)
      return "kubectl " + v.value("gitVersion", "") + " is too old: the demo needs 1.24 or later";
  } catch (const std::exception&) {
    return "cannot tell kubectl's version: " + r.err;
  }
  return "";
}

// Root, the CNI plugins, bridge netfilter, kubectl (new enough), openssl and python3; else
// why not.
std::string missing_prerequisite(const Flags& f) {
  if (auto why = e2e::missing_prerequisite(f.cni_bin, {f.kubectl, "openssl", "python3"});
      !why.empty())
    return why;
  return kubectl_too_old(f.kubectl);
}

// YAML documents for `kubectl -f` (JSON is YAML); the comment keeps kubectl from reading the
// file as a JSON stream, and documents, unlike a v1 List, need no OpenAPI from the server.
std::string write_documents(const std::string& path, const nlohmann::json& items) {
  std::string text;
  for (const auto& item : items)
    text += (text.empty() ? "" : "---\n") + ("# demo\n" + item.dump(1) + "\n");
  std::ofstream(path) << text;
  return path;
}

void print_cluster(const Term& term, const ExampleCluster& ex, const e2e::Cluster& cluster,
                   const ExternalOptions& ext) {
  say("\n" + term.bold("The cluster (examples/cluster.yaml)") + "\n");
  for (const auto& node : ex.nodes) {
    const auto& n = cluster.nodes().at(ex.harness_node(node) == "n1" ? 0 : 1);
    say("  " + node + ": network namespace " + n.netns + ", address " + ex.host_ips.at(node) +
        ", pods in " + e2e::node_subnet(n.index, false) + "\n");
  }
  char line[256];
  std::snprintf(line, sizeof line, "  %-12s %-26s %-11s %-7s %-13s %s\n", "NAMESPACE", "POD",
                "SHORT NAME", "NODE", "IP", "PORTS");
  say(term.bold(line));
  for (const auto& p : ex.pods) {
    const std::string what = p.host_network ? "(hostNetwork: this pod is its node itself)"
                             : !p.runs()    ? "(" + p.phase + ": a finished pod, not started)"
                                            : p.ports_text();
    std::snprintf(line, sizeof line, "  %-12s %-26s %-11s %-7s %-13s %s\n", p.ns.c_str(),
                  p.name.c_str(), p.runs() ? p.short_name.c_str() : "", p.node.c_str(),
                  p.ip.c_str(), what.c_str());
    say(line);
  }
  for (size_t i = 0; i < ext.ips.size(); ++i) {
    const std::string label = "ext" + ext.ips[i].substr(ext.ips[i].rfind('.'));
    std::snprintf(line, sizeof line, "  %-12s %-26s %-11s %-7s %-13s %d/TCP%s\n", "(outside)",
                  i ? "" : "the card processor", label.c_str(), "", ext.ips[i].c_str(), ext.port,
                  i ? "" : ", a network namespace reached through node-1");
    say(line);
  }
  say(wrap_text(kLegend, kWidth, "  "));
}

// The stand-in, the cluster's objects written with kubectl, then the agents.
void start_control_plane(const Term& term, ControlPlane& control, const ExampleCluster& ex,
                         const e2e::Cluster& cluster, const std::string& workdir) {
  const auto t0 = Clock::now();
  say("\n" + term.bold("▸ starting the API server stand-in") +
      " in node-1 (https://192.168.77.1:6443) ... ");
  control.start_standin();
  say("ready in " + secs(since(t0)) + "\n");
  say(wrap_text("kubectl runs in node-1 with the stand-in's kubeconfig: ip netns exec " +
                    cluster.nodes().at(0).netns + " kubectl --kubeconfig " + control.kubeconfig() +
                    " ...",
                kWidth, "  "));
  const auto objects = write_documents(workdir + "/cluster.yaml", ex.objects);
  say(term.cyan("  $ kubectl apply -f cluster.yaml") +
      term.dim("   # examples/cluster.yaml without status and server-set fields") + "\n");
  std::string out = control.must_kubectl({"apply", "-f", objects});
  for (auto& ch : out) ch = ch == '\n' ? ' ' : ch;
  say(term.dim(wrap_text(out, kWidth, "    ")));
  const auto status = write_documents(workdir + "/pod-status.yaml", ex.statuses);
  say(term.cyan("  $ kubectl apply --server-side --subresource=status -f pod-status.yaml") +
      term.dim("   # what the kubelets report: phase, pod IP") + "\n");
  out = control.must_kubectl({"apply", "--server-side", "--subresource=status", "-f", status});
  say(term.dim("    " + std::to_string(std::count(out.begin(), out.end(), '\n')) +
               " pods serverside-applied") +
      "\n");
  const auto t1 = Clock::now();
  say(term.bold("▸ starting nftpolicy-agent on node-1 and node-2") + " (API mode) ... ");
  control.start_agents();
  control.converge();
  say("both in sync with the API server after " + secs(since(t1)) + "\n");
}

void summary(const Term& term, const WalkResult& r, size_t total_steps, const e2e::Cluster& cluster,
             double elapsed) {
  say("\n" + term.bold("━━━ Summary ━━━") + "\n");
  const bool all = r.agreed == r.steps && r.steps == total_steps;
  say("  " + std::to_string(r.steps) + " steps, " + std::to_string(r.flows) +
      " flows judged by both: " +
      (all ? term.green("policy-dry-run and the kernel agreed on every step ✓")
           : term.red(std::to_string(r.steps - r.agreed) + " steps disagreed ✗")) +
      "\n");
  if (r.cut_ok) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "the established connection was cut %.2f s after kubectl apply started, the "
                  "other one kept flowing ✓",
                  r.cut_seconds);
    say("  " + term.green(buf) + "\n");
  } else {
    say("  " + term.red("the established connection was not cut as expected ✗") + "\n");
  }
  say("  run time " + secs(elapsed) + "\n\n" + term.bold("Where to look next") + "\n");
  const std::string cli = "build/cmd/policy-dry-run";
  for (const std::string& cmd :
       {cli + " eval -f examples --from shop/web-7c9d8-abcde --to payments/api-0 --port http "
              "--explain",
        cli + " matrix -f examples --port 8080 --port 53/UDP",
        cli + " compile -f examples --node node-1      # node-1's nftables program",
        "ip netns exec " + cluster.nodes().at(0).netns +
            " nft list table inet nftpolicy   # the agent's table: ./scripts/demo.sh --keep",
        std::string("e2e/README.md: the kernel e2e harness this demo is built on")}) {
    say(term.cyan("  " + cmd) + "\n");
  }
}

int run(const Flags& f, const Term& term) {
  const auto t_start = Clock::now();
  say(term.bold("nftpolicy demo: Kubernetes NetworkPolicy, enforced with nftables") + "\n\n" +
      wrap_text(kIntro, kWidth, ""));
  const ExampleCluster ex = load_example_cluster(f.examples + "/cluster.yaml");
  e2e::Janitor::sweep_stale();
  e2e::Janitor janitor;
  janitor.install_signal_thread();
  WalkResult result;
  const size_t total_steps = policy_steps().size() + 1;
  {
    const CutStep& cut = cut_step();
    const ExternalOptions ext{.pod_server = f.pod_server,
                              .ips = {"203.0.113.10", "203.0.113.200"},
                              .cidr = "203.0.113.0/24"};
    e2e::Cluster cluster(janitor, {.pod_server = f.pod_server, .cni_bin = f.cni_bin});
    auto t0 = Clock::now();
    say("\n" + term.bold("▸ building the cluster") + ": 2 node namespaces, " +
        std::to_string(ex.running().size()) +
        " pods wired by the CNI bridge plugin, the card processor's network ... ");
    cluster.create(harness_case(ex, {cut.server + " " + std::to_string(cut.port) + "/TCP"}));
    add_host_ips(cluster, ex);
    // The pod the connections of the last step go to: the demo serves that port itself.
    LineServer line_server(cluster.pod(cut.server).netns_fd, cut.port, cut.server);
    line_server.start();
    ExternalNetwork external(janitor, cluster, ext);
    external.create();
    say("done in " + secs(since(t0)) + "\n");
    print_cluster(term, ex, cluster, ext);
    ControlPlane control(janitor, cluster,
                         {.agent = f.agent,
                          .standin_script = f.standin,
                          .kubectl = f.kubectl,
                          .workdir = janitor.tmpdir(),
                          .node_names = {{"n1", ex.nodes.at(0)}, {"n2", ex.nodes.at(1)}}});
    start_control_plane(term, control, ex, cluster, janitor.tmpdir());
    Predictor predictor(f.dry_run);
    Walkthrough walk(term, ex, cluster, control, predictor, ext,
                     {.examples = f.examples,
                      .workdir = janitor.tmpdir(),
                      .pace = f.pace,
                      .measure = {.prober = {.timeout = std::chrono::milliseconds(f.timeout_ms)},
                                  .external_name = ext.name}});
    result = walk.run();
    wait_if_interrupted();
    summary(term, result, total_steps, cluster, since(t_start));
    if (f.keep) {
      say("\n--keep: everything stays up until Ctrl-C. Try:\n" +
          term.cyan("  ip netns exec " + cluster.nodes().at(0).netns +
                    " nft list table inet nftpolicy\n  ip netns exec " +
                    cluster.nodes().at(0).netns + " kubectl --kubeconfig " + control.kubeconfig() +
                    " get netpol -A\n"));
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));  // the signal thread ends it
    }
    t0 = Clock::now();
    say("\ncleaning up: agents, stand-in, pods (CNI DEL), network namespaces ... ");
  }
  janitor.cleanup();
  say("done\n");
  const bool ok = result.steps == total_steps && result.agreed == result.steps && result.cut_ok;
  return ok ? 0 : 1;
}

std::string next_to_me(const std::string& relative) {
  return (fs::read_symlink("/proc/self/exe").parent_path() / relative).lexically_normal();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "nftpolicy-demo: NetworkPolicy explained by watching it. Builds the two-node cluster of "
      "examples/cluster.yaml in network namespaces (pods wired by the CNI bridge plugin), starts "
      "the API server stand-in and one nftpolicy-agent per node, and walks through "
      "examples/policies with kubectl: per step what policy-dry-run predicts, the matrix "
      "measured with real connections, and whether they agree. Needs root. Exit code 0: every "
      "step agreed; 1: something disagreed or failed; 77: a prerequisite is missing."};
  Flags f;
  app.add_option("--examples", f.examples, "The examples directory")->capture_default_str();
  app.add_option("--agent", f.agent, "nftpolicy-agent (default: in the build tree)");
  app.add_option("--dry-run", f.dry_run, "policy-dry-run (default: in the build tree)");
  app.add_option("--pod-server", f.pod_server, "pod_server (default: next to this binary)");
  app.add_option("--standin", f.standin, "The API server stand-in")->capture_default_str();
  app.add_option("--kubectl", f.kubectl, "kubectl binary")->capture_default_str();
  app.add_option("--cni-bin", f.cni_bin, "CNI plugin directory")->capture_default_str();
  app.add_option("--pace", f.pace, "Seconds to pause between steps (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--timeout-ms", f.timeout_ms, "Probe timeout (a blocked probe is tried twice)")
      ->capture_default_str();
  app.add_flag("--keep", f.keep, "At the end, keep everything running until Ctrl-C");
  app.add_flag("--no-color", f.no_color, "No ANSI colors (also when stdout is not a terminal)");
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);  // a child that exits before reading its stdin
  if (f.agent.empty()) f.agent = next_to_me("../agent/nftpolicy-agent");
  if (f.dry_run.empty()) f.dry_run = next_to_me("../cmd/policy-dry-run");
  if (f.pod_server.empty()) f.pod_server = next_to_me("pod_server");
  const Term term(!f.no_color && isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR"));
  try {
    for (const auto& bin : {f.agent, f.dry_run, f.pod_server}) {
      if (access(bin.c_str(), X_OK) != 0)
        throw std::runtime_error(bin + " is missing: build it (scripts/build.sh)");
    }
    if (const std::string why = missing_prerequisite(f); !why.empty()) {
      std::printf("SKIPPED: %s\n", why.c_str());
      return kSkip;
    }
    return run(f, term);
  } catch (const std::exception& e) {
    wait_if_interrupted();
    std::fflush(stdout);
    std::fprintf(stderr, "\nnftpolicy-demo: %s\n", e.what());
    return 1;
  }
}
