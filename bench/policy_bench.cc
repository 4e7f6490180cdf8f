// policy-bench: compile and apply at scale, cold and incremental, with the number of kernel
// messages per change. Prints figures next to the targets of PERFORMANCE.md; asserts nothing.
//
//   nftpolicy-policy-bench [--pods N --policies M]...   (default: 1k/100 and 10k/1k)
//
// Kernel figures need root; they are taken inside a network namespace created for the run
// and deleted at the end.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "nft/diff.h"
#include "nft/kernel_netlink.h"
#include "nft/render.h"
#include "synthetic_cluster.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

struct Stat {
  std::vector<double> v;
  double p(double q) {
    std::sort(v.begin(), v.end());
    return v.empty()
               ? 0
               : v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
  }
};

// Enters a fresh network namespace for the kernel figures; leaves and deletes it at the end.
class Netns {
 public:
  Netns() : name_("npbench-" + std::to_string(::getpid())) {
    if (::geteuid() != 0 || std::system(("ip netns add " + name_).c_str()) != 0) return;
    orig_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    const int fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    entered_ = fd >= 0 && orig_ >= 0 && ::setns(fd, CLONE_NEWNET) == 0;
    if (fd >= 0) ::close(fd);
  }
  ~Netns() {
    if (orig_ >= 0) {
      (void)::setns(orig_, CLONE_NEWNET);
      ::close(orig_);
    }
    if (::geteuid() == 0) (void)std::system(("ip netns del " + name_ + " 2>/dev/null").c_str());
  }
  bool entered() const { return entered_; }

 private:
  std::string name_;
  int orig_ = -1;
  bool entered_ = false;
};

struct Change {
  const char* what;
  std::function<void(policy::Cluster&)> apply;
  std::function<void(policy::Cluster&)> revert;
};

void kernel_figures(const nft::Program& program) {
  auto opened = nft::KernelNetlink::open();
  if (!opened.is_ok()) {
    std::printf("  kernel: cannot open netlink: %s\n", opened.error().to_string().c_str());
    return;
  }
  auto& nl = *opened.value();
  auto t = Clock::now();
  if (auto st = nl.apply(nft::diff({}, program)); !st) {
    std::printf("  kernel: apply failed: %s\n", st.error().to_string().c_str());
    return;
  }
  const double ours = ms_since(t);
  const auto msgs = nl.last_apply().messages;
  t = Clock::now();
  auto back = nl.dump(program.table);
  const auto tx = back.is_ok() ? nft::diff(back.value(), program) : nft::Transaction{};
  const double readback = ms_since(t);
  (void)nl.apply(nft::Transaction{.ops = {nft::op::DeleteTable{}}});
  const std::string file = "/tmp/npbench-" + std::to_string(::getpid()) + ".nft";
  std::ofstream(file) << nft::render(program);
  t = Clock::now();
  const int rc = std::system(("nft -f " + file).c_str());
  const double nft_f = ms_since(t);
  std::remove(file.c_str());
  (void)std::system("nft delete table inet nftpolicy 2>/dev/null");
  std::printf(
      "  full apply: netlink %.1f ms (%zu messages) vs nft -f %.1f ms%s: ratio %.2f (P10 <= "
      "0.50)\n",
      ours, msgs, nft_f, rc ? " (FAILED)" : "", ours / nft_f);
  std::printf("  read back + diff: %.1f ms, %s (P5 <= 300 ms at 10k pods/1k policies)\n", readback,
              back.is_ok() && tx.empty() ? "no drift" : "DRIFT OR ERROR");
}

// ns-1/pod-1 (node-0) is app-1, which the "same app" policies of ns-1 select: relabelling it
// takes it out of their peer sets and out of isolation.
void relabel(policy::Cluster& c, const char* app) {
  for (auto& p : c.pods) {
    if (p.key() == "ns-1/pod-1") p.labels["app"] = app;
  }
}

void incremental(policy::Cluster cluster, const std::string& node, bool kernel) {
  std::unique_ptr<nft::KernelNetlink> nl;
  if (kernel) {
    auto o = nft::KernelNetlink::open();
    if (o.is_ok()) nl = std::move(o).value();
  }
  nft::Program current = compiler::compile(cluster, node).program;
  if (nl && !nl->apply(nft::diff({}, current))) nl.reset();
  const int namespaces = static_cast<int>(cluster.namespaces.size());
  std::mt19937 rnd(7);
  const int next = static_cast<int>(cluster.pods.size());
  const std::vector<Change> changes = {
      {"pod added (other node, joins peer sets)",
       [&](policy::Cluster& c) {
         auto p = bench::synthetic_pod(next, namespaces, rnd);
         p.node = "node-other";
         c.pods.push_back(p);
       },
       [&](policy::Cluster& c) { c.pods.pop_back(); }},
      {"pod of this node relabelled", [&](policy::Cluster& c) { relabel(c, "app-2"); },
       [&](policy::Cluster& c) { relabel(c, "app-1"); }},
      {"policy added",
       [&](policy::Cluster& c) {
         auto np = bench::synthetic_policy(1, namespaces, rnd);
         np.name = "zz-bench";
         np.ingress[0].peers[0].pod_selector->match_labels["tier"] = "web";
         c.policies.push_back(np);
       },
       [&](policy::Cluster& c) { c.policies.pop_back(); }},
  };
  for (const auto& ch : changes) {
    Stat total, comp, plan, apply;
    std::size_t msgs = 0, ops = 0;
    for (int i = 0; i < 21; ++i) {
      for (int phase = 0; phase < 2; ++phase) {
        (phase == 0 ? ch.apply : ch.revert)(cluster);
        const auto t0 = Clock::now();
        auto next_prog = compiler::compile(cluster, node).program;
        const double c_ms = ms_since(t0);
        const auto tp = Clock::now();
        const auto tx = nft::diff(current, next_prog);
        const double p_ms = ms_since(tp);
        const auto t1 = Clock::now();
        if (nl && !tx.empty() && !nl->apply(tx)) std::printf("  apply failed\n");
        const double a_ms = ms_since(t1);
        const double all = ms_since(t0);
        current = std::move(next_prog);  // freeing the old program is not on the critical path
        if (phase != 0) continue;
        total.v.push_back(all);
        comp.v.push_back(c_ms);
        plan.v.push_back(p_ms);
        apply.v.push_back(a_ms);
        ops = tx.size();
        msgs = nl && !tx.empty() ? nl->last_apply().messages : 0;
      }
    }
    std::printf(
        "  %-40s p50 %6.2f ms, p99 %6.2f ms (compile %6.2f, diff %6.2f, apply %5.2f); "
        "%zu ops, %zu messages\n",
        ch.what, total.p(0.5), total.p(0.99), comp.p(0.5), plan.p(0.5), apply.p(0.5), ops, msgs);
  }
  if (nl) (void)nl->apply(nft::Transaction{.ops = {nft::op::DeleteTable{}}});
}

void run(int pods, int policies, bool kernel) {
  std::printf("\n== %d pods, %d policies, node node-0 (100 pods)\n", pods, policies);
  const auto cluster = bench::synthetic_cluster(pods, policies);
  Stat compile_ms;
  compiler::Compiled compiled;
  for (int i = 0; i < 5; ++i) {
    const auto t = Clock::now();
    compiled = compiler::compile(cluster, "node-0");
    compile_ms.v.push_back(ms_since(t));
  }
  const auto& s = compiled.stats;
  std::printf(
      "  compile: p50 %.2f ms; program: %zu chains, %zu rules, %zu sets+maps, %zu elements; "
      "%zu pods on the node, %zu/%zu isolated ingress/egress\n",
      compile_ms.p(0.5), s.chains, s.rules, s.sets, s.elements, s.node_pods, s.isolated_ingress,
      s.isolated_egress);
  if (kernel) kernel_figures(compiled.program);
  std::printf(
      "  incremental changes, event -> last ACK, compile included (P1: p50 <= 5 ms, "
      "p99 <= 25 ms; P3: p99 <= 5 ms):\n");
  incremental(cluster, "node-0", kernel);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<int, int>> configs;
  for (int i = 1; i + 3 < argc + 1; i += 4) {
    if (std::string(argv[i]) != "--pods" || std::string(argv[i + 2]) != "--policies") {
      std::fprintf(stderr, "usage: %s [--pods N --policies M]...\n", argv[0]);
      return 2;
    }
    configs.emplace_back(std::atoi(argv[i + 1]), std::atoi(argv[i + 3]));
  }
  if (argc > 1 && configs.empty()) {
    std::fprintf(stderr, "usage: %s [--pods N --policies M]...\n", argv[0]);
    return 2;
  }
  if (configs.empty()) configs = {{1000, 100}, {10000, 1000}};
  Netns ns;
  if (!ns.entered()) std::printf("(not root or no netns: compile figures only)\n");
  for (const auto& [pods, policies] : configs) run(pods, policies, ns.entered());
  return 0;
}
