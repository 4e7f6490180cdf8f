// nftpolicy-e2e: runs the conformance cases in the Linux kernel. See README.md in this folder.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "api_driver.h"
#include "api_runner.h"
#include "cluster.h"
#include "conformance_case.h"
#include "faults.h"
#include "flow_scenarios.h"
#include "runner.h"
#include "self_test.h"
#include "sys.h"

namespace fs = std::filesystem;

namespace {

constexpr int kSkip = 77;  // ctest SKIP_RETURN_CODE

struct Flags {
  std::vector<std::string> case_dirs = {NPE2E_SOURCE_DIR "/../shared/cases/upstream",
                                        NPE2E_SOURCE_DIR "/e2e/cases"};
  std::string agent, filter, pod_server, dump_dir, cni_bin = "/usr/lib/cni";
  bool no_enforcer = false, self_test = false, keep = false, cleanup = false, verbose = false;
  int timeout_ms = 1000, attempts = 2;
  std::string source = "manifests";  // or "api": long-running agents watching the stand-in
  bool faults = false;
  bool flows = false;
  std::string standin = NPE2E_SOURCE_DIR "/e2e/apiserver/apiserver.py", kubectl = "kubectl";
  int converge_timeout_ms = 20000;
};

bool api_mode(const Flags& f) {
  return f.source == "api" || f.faults || f.flows;
}

std::vector<cases::Case> load_cases(const Flags& f) {
  std::vector<cases::Case> out;
  for (const auto& dir : f.case_dirs) {
    if (!fs::is_directory(dir)) throw std::runtime_error("no case directory " + dir);
    for (const auto& file : cases::case_files(dir)) {
      cases::Case c = cases::load_case(file);
      // --faults and --flows filter their scenarios, not the cases they build on.
      if (f.faults || f.flows || c.name.find(f.filter) != std::string::npos)
        out.push_back(std::move(c));
    }
  }
  return out;
}

// Without --agent and the cluster: the manifests the agent would get, for policy-dry-run.
int dump_manifests(const std::vector<cases::Case>& all, const std::string& dir) {
  for (const auto& c : all) {
    cases::CaseState state(c);
    fs::create_directories(dir + "/" + e2e::file_safe(c.name));
    for (size_t i = 0; i < c.steps.size(); ++i) {
      state.apply(c.steps[i]);
      std::ofstream(dir + "/" + e2e::file_safe(c.name) + "/step" + std::to_string(i) + ".json")
          << state.manifests(c.steps[i].policies).dump(1) << "\n";
    }
  }
  std::printf("wrote the manifests of %zu cases under %s\n", all.size(), dir.c_str());
  return 0;
}

// A missing prerequisite skips the run with the reason.
std::string missing_prerequisite(const Flags& f) {
  std::vector<std::string> tools;
  if (api_mode(f)) tools = {f.kubectl, "openssl", "python3"};
  return e2e::missing_prerequisite(f.cni_bin, tools);
}

std::string default_pod_server() {
  return (fs::read_symlink("/proc/self/exe").parent_path() / "pod_server").string();
}

using CaseFn = std::function<e2e::CaseResult(const cases::Case&, size_t)>;

int run_cases(const CaseFn& run_case, const std::vector<cases::Case>& all) {
  size_t passed = 0, probes = 0, skipped = 0;
  std::vector<std::string> failed;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < all.size(); ++i) {
    if (e2e::interrupted()) break;
    const e2e::CaseResult r = run_case(all[i], i);
    const std::string skip = r.skipped ? " (" + std::to_string(r.skipped) + " skipped)" : "";
    std::printf("%s  %-60s %zu steps %5zu probes%s %6.1f s%s%s\n", r.passed ? "PASS" : "FAIL",
                r.name.c_str(), r.steps, r.probes, skip.c_str(), r.seconds,
                r.error.empty() ? "" : "\n      ", r.error.c_str());
    std::fflush(stdout);
    if (r.passed) {
      ++passed;
    } else {
      failed.push_back(r.name);
    }
    probes += r.probes;
    skipped += r.skipped;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\n%zu cases: %zu passed, %zu failed; %zu probes, %zu probe specs skipped; %.1f s\n",
              all.size(), passed, all.size() - passed, probes, skipped, secs);
  for (const auto& n : failed) std::printf("  failed: %s\n", n.c_str());
  return passed == all.size() ? 0 : 1;
}

// --source api: the cases (or with --faults the fault scenarios) against the API server
// stand-in, with one long-running agent per node.
int run_api(const Flags& f, e2e::Janitor& janitor, e2e::Cluster& cluster, e2e::Runner& runner,
            const std::vector<cases::Case>& all) {
  e2e::ApiDriver driver(janitor, cluster,
                        {.agent = f.agent,
                         .standin_script = f.standin,
                         .kubectl = f.kubectl,
                         .workdir = janitor.tmpdir(),
                         .verbose = f.verbose,
                         .keep = f.keep,
                         .converge_timeout = std::chrono::milliseconds(f.converge_timeout_ms)});
  if (f.faults) return e2e::FaultScenarios(cluster, runner, driver, all).run(f.filter);
  e2e::ApiRunner api(cluster, runner, driver);
  const int rc = run_cases([&](const cases::Case& c, size_t i) { return api.run_case(c, i); }, all);
  std::printf("last kubectl write of a step -> in both agents' kernels: %s\n",
              e2e::latency_summary(api.latencies()).c_str());
  std::printf("... -> every resourceVersion gauge at the stand-in's: %s\n",
              e2e::latency_summary(api.settled()).c_str());
  std::printf("kubectl: %zu calls, %.1f s\n", driver.kubectl_calls(), driver.kubectl_seconds());
  return rc;
}

int run(const Flags& f) {
  std::vector<cases::Case> all = load_cases(f);
  if (!f.dump_dir.empty()) return dump_manifests(all, f.dump_dir);
  if (all.empty()) throw std::runtime_error("no case matches --filter '" + f.filter + "'");
  if (const std::string why = missing_prerequisite(f); !why.empty()) {
    std::printf("SKIPPED: %s\n", why.c_str());
    return kSkip;
  }
  e2e::Janitor::sweep_stale();
  e2e::Janitor janitor;
  janitor.install_signal_thread();
  janitor.set_keep(f.keep);
  const std::string pod_server = f.pod_server.empty() ? default_pod_server() : f.pod_server;
  e2e::Cluster cluster(janitor, {.pod_server = pod_server, .cni_bin = f.cni_bin, .keep = f.keep});
  e2e::Runner runner(cluster, {.agent = f.agent,
                               .workdir = janitor.tmpdir(),
                               .no_enforcer = f.no_enforcer || f.self_test,
                               .verbose = f.verbose,
                               .prober = {.timeout = std::chrono::milliseconds(f.timeout_ms),
                                          .attempts = f.attempts}});
  const auto t0 = std::chrono::steady_clock::now();
  cluster.create(all.front());
  std::printf("cluster up in %.1f s (%zu pods, 2 nodes)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
              cluster.pods().size());
  if (f.verbose || f.keep) std::printf("%s", cluster.describe().c_str());
  int rc = 0;
  if (f.self_test) {
    rc = e2e::run_self_test(cluster, runner, all.front());
  } else if (f.flows) {
    rc = e2e::FlowScenarios(janitor, cluster, all,
                            {.agent = f.agent,
                             .pod_server = pod_server,
                             .standin_script = f.standin,
                             .kubectl = f.kubectl,
                             .cni_bin = f.cni_bin,
                             .workdir = janitor.tmpdir(),
                             .verbose = f.verbose,
                             .converge_timeout = std::chrono::milliseconds(f.converge_timeout_ms)})
             .run(f.filter);
  } else if (api_mode(f)) {
    rc = run_api(f, janitor, cluster, runner, all);
  } else {
    rc = run_cases([&](const cases::Case& c, size_t) { return runner.run_case(c); }, all);
  }
  if (f.keep) std::printf("--keep: cluster left in place:\n%s", cluster.describe().c_str());
  return rc;
}

void add_api_flags(CLI::App& app, Flags& f) {
  app.add_option("--source", f.source,
                 "manifests: `nftpolicy-agent --once --manifests` per step and node; api: one "
                 "agent per node watching the API server stand-in, changes made with kubectl")
      ->check(CLI::IsMember({"manifests", "api"}))
      ->capture_default_str();
  app.add_flag("--faults", f.faults,
               "API-server fault scenarios instead of the cases (implies --source api; "
               "--filter picks scenarios: drop-watches, relist-410, apiserver-down, malformed)");
  app.add_flag("--flows", f.flows,
               "Flow scenarios instead of the cases: long-lived TCP/UDP flows while policies "
               "change, an agent restarts, the table is tampered with, a pod's IP is reused "
               "(implies --source api; --filter picks scenarios: revocation, restart, tampering, "
               "pod-reuse)");
  app.add_option("--standin", f.standin, "The API server stand-in (apiserver.py)")
      ->capture_default_str();
  app.add_option("--kubectl", f.kubectl, "kubectl binary")->capture_default_str();
  app.add_option("--converge-timeout-ms", f.converge_timeout_ms,
                 "API mode: how long the agents may take to have a change in the kernel")
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "nftpolicy-e2e: runs the NetworkPolicy conformance cases in the kernel: two node "
      "network namespaces, pods wired by the CNI bridge plugin, ClusterIPs by an nft "
      "DNAT table, nftpolicy-agent in each node, TCP/UDP probes between all pods."};
  Flags f;
  app.add_option("--cases", f.case_dirs, "Case directories (repeatable)")->capture_default_str();
  app.add_option("--agent", f.agent, "nftpolicy-agent binary, run in each node namespace");
  app.add_flag("--no-enforcer", f.no_enforcer,
               "Plumbing: no agent, policies dropped, every pair must connect on every port");
  app.add_flag("--self-test", f.self_test,
               "No agent: a hand-written drop rule must block exactly its pairs");
  app.add_option("--filter", f.filter, "Only cases whose name contains this");
  app.add_flag("--keep", f.keep, "Leave namespaces and pod servers in place for debugging");
  app.add_flag("--cleanup", f.cleanup, "Remove leftovers of earlier runs and exit");
  app.add_option("--dump-manifests", f.dump_dir, "Write each step's manifests here and exit");
  app.add_option("--pod-server", f.pod_server, "pod_server binary (default: next to this one)");
  app.add_option("--cni-bin", f.cni_bin, "CNI plugin directory")->capture_default_str();
  app.add_option("--timeout-ms", f.timeout_ms, "Probe timeout")->capture_default_str();
  app.add_option("--attempts", f.attempts, "Tries before a probe counts as blocked")
      ->capture_default_str();
  add_api_flags(app, f);
  app.add_flag("-v,--verbose", f.verbose, "Print the topology and the agent's output");
  CLI11_PARSE(app, argc, argv);
  // A child that exits before reading its stdin must not kill the runner with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  if (f.agent.empty() && !f.no_enforcer && !f.self_test && !f.cleanup && f.dump_dir.empty()) {
    std::fprintf(stderr, "give --agent PATH, or --no-enforcer / --self-test\n");
    return 2;
  }
  if (api_mode(f) && (f.agent.empty() || f.no_enforcer || f.self_test)) {
    std::fprintf(
        stderr, "--source api, --faults and --flows need --agent, not --no-enforcer/--self-test\n");
    return 2;
  }
  try {
    if (f.cleanup) {
      e2e::Janitor::sweep_stale();
      return 0;
    }
    return run(f);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nftpolicy-e2e: %s\n", e.what());
    return 1;
  }
}
