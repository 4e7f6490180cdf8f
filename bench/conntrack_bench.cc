// conntrack-bench: the cost of revoking the connections a policy change denies (target P8:
// ≤ 150 ms for 1% of 250k tracked entries), in a network namespace created for the run and
// deleted at the end (also on failure or SIGINT/SIGTERM). Needs root and `ip`.
//
//   nftpolicy-conntrack-bench [--entries N[,N...]] [--runs R]   (default 10000,250000; 5 runs)
//
// The node holds 100 server pods; every entry is a TCP connection from a client outside the
// node to one of them (1% of the entries per pod). The change isolates one pod and admits
// only a `frontend` app the clients are not: it denies exactly that pod's 1%. For each table
// size it prints the median over R runs (the deleted entries are created again between
// runs) of:
//   - revoke: scope_of_change(before, after) + revoke() on KernelTable — what the agent does
//     while entries in quarantine may exist (one more dump, filtered by the quarantine mark,
//     to release those a change allows again); and without that dump (none in quarantine);
//   - full dump: revoke() with Scope::all() — every entry dumped and judged in userspace;
//   - walk: one dump whose mark filter matches nothing — the kernel's table walk alone, the
//     floor of any kernel-filtered dump (a mark our rules would set included);
//   - deletes sent one per round trip instead of 1024 per sendmsg.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "compiler/compiler.h"
#include "conntrack/kernel_table.h"
#include "conntrack/revoker.h"
#include "nft/diff.h"
#include "nft/kernel_netlink.h"
#include "policy/loader.h"

namespace {

using Clock = std::chrono::steady_clock;
using conntrack::Entry;
using conntrack::KernelTable;

constexpr int kPods = 100;

double ms(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1000.0;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The namespace's name, for the signal handler (which may only fork and exec).
char g_netns[64];

void remove_netns_and_exit(int signal) {
  const pid_t child = fork();
  if (child == 0) {
    execlp("ip", "ip", "netns", "del", g_netns, static_cast<char*>(nullptr));
    _exit(127);
  }
  if (child > 0) waitpid(child, nullptr, 0);
  _exit(128 + signal);
}

class Netns {
 public:
  static std::optional<Netns> create(std::string& why_not) {
    if (geteuid() != 0) return why_not = "needs root", std::nullopt;
    const std::string name = "nftpol-ctbench-" + std::to_string(getpid());
    std::snprintf(g_netns, sizeof g_netns, "%s", name.c_str());
    struct sigaction action {};
    action.sa_handler = remove_netns_and_exit;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    if (std::system(("ip netns add " + name).c_str()) != 0) {
      return why_not = "cannot create a network namespace", std::nullopt;
    }
    return Netns(name);
  }
  Netns(Netns&& other) noexcept : name_(std::move(other.name_)) { other.name_.clear(); }
  Netns& operator=(Netns&&) = delete;
  ~Netns() {
    if (!name_.empty()) (void)std::system(("ip netns del " + name_).c_str());
  }
  // Runs `body` on a thread inside the namespace; sockets it opens stay there.
  bool enter(const std::function<void()>& body) const {
    bool entered = false;
    std::thread thread([&] {
      const int fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
      entered = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;  // never the root namespace
      if (fd >= 0) close(fd);
      if (entered) body();
    });
    thread.join();
    return entered;
  }

 private:
  explicit Netns(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

std::string pod_ip(int i) {
  return "10.244.1." + std::to_string(i + 1);
}

// 100 pods on n1; pod-0 is the canary. With `isolate`, a policy admits only app=frontend to it.
nft::Program program(bool isolate) {
  std::string yaml;
  for (int i = 0; i < kPods; ++i) {
    yaml += "---\n{apiVersion: v1, kind: Pod, metadata: {name: pod-" + std::to_string(i) +
            ", namespace: shop, labels: {app: web, tier: " + (i == 0 ? "canary" : "stable") +
            "}}, spec: {nodeName: n1, containers: [{name: c}]}, status: {phase: Running, "
            "podIP: \"" +
            pod_ip(i) + "\"}}\n";
  }
  if (isolate) {
    yaml +=
        "---\n{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: canary, "
        "namespace: shop}, spec: {podSelector: {matchLabels: {tier: canary}}, ingress: [{from: "
        "[{podSelector: {matchLabels: {app: frontend}}}]}]}}\n";
  }
  policy::Loader loader;
  loader.add_text(yaml, "bench.yaml");
  return compiler::compile(std::move(loader).finish().cluster, "n1").program;
}

// Entry i: client 10.1.x.y:port -> pod (i % 100):80.
std::vector<Entry> entries(std::size_t n) {
  std::vector<Entry> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t client = 0x0a010000u + static_cast<std::uint32_t>(i / 50000);
    common::IpAddr src{.family = common::Family::kV4};
    for (int b = 0; b < 4; ++b) src.bytes[b] = static_cast<std::uint8_t>(client >> (24 - 8 * b));
    const auto port = static_cast<std::uint16_t>(10000 + i % 50000);
    out.push_back(
        Entry::flow(conntrack::kProtoTcp,
                    {src, *common::IpAddr::parse(pod_ip(static_cast<int>(i % kPods))), port, 80}));
  }
  return out;
}

struct Row {
  std::size_t entries = 0;
  double insert_ms = 0;
  std::vector<double> revoke, revoke_dump, revoke_delete, lean, full, dump_all, walk, one_by_one;
  conntrack::RevokeReport scoped, scoped_lean, everything;
};

bool check(const nft::Status& s, const char* what) {
  if (!s) std::cerr << what << ": " << s.error().to_string() << "\n";
  return s.is_ok();
}

// One run: revoke with the change's scope, then with everything (after re-creating the
// entries), then one delete per round trip; the table holds all entries again at the end.
bool run_once(KernelTable& table, KernelTable& slow, const nft::Program& before,
              const nft::Program& after, const std::vector<Entry>& canary, Row& row) {
  const conntrack::NodeAddresses node{{*common::IpAddr::parse("192.168.0.1")}};
  auto scoped = conntrack::revoke(after, table, conntrack::scope_of_change(before, after), node);
  if (!check(scoped.status(), "revoke")) return false;
  row.scoped = scoped.value();
  row.revoke.push_back(ms(scoped.value().time));
  row.revoke_dump.push_back(ms(scoped.value().dump_time));
  row.revoke_delete.push_back(ms(scoped.value().delete_time));
  if (!check(table.insert(canary), "re-insert")) return false;

  auto lean = conntrack::revoke(after, table, conntrack::scope_of_change(before, after), node,
                                {.find_quarantined = false});
  if (!check(lean.status(), "revoke without the quarantine dump")) return false;
  row.scoped_lean = lean.value();
  row.lean.push_back(ms(lean.value().time));
  if (!check(table.insert(canary), "re-insert")) return false;

  auto full = conntrack::revoke(after, table, conntrack::Scope::all(), node);
  if (!check(full.status(), "full revoke")) return false;
  row.everything = full.value();
  row.full.push_back(ms(full.value().time));
  if (!check(table.insert(canary), "re-insert")) return false;

  Clock::time_point t = Clock::now();
  std::size_t dumped_all = 0;
  if (!check(table.dump({}, [&](const Entry&) { ++dumped_all; }), "dump")) return false;
  row.dump_all.push_back(ms_since(t));

  t = Clock::now();
  std::size_t walked = 0;
  if (!check(table.dump({.mark = 0x1, .mark_mask = 0x1}, [&](const Entry&) { ++walked; }),
             "walk")) {
    return false;
  }
  row.walk.push_back(ms_since(t));

  auto dumped = table.entries(
      conntrack::DumpFilter::of(conntrack::Field::reply_src, *common::IpAddr::parse(pod_ip(0))));
  if (!check(dumped.status(), "dump")) return false;
  t = Clock::now();
  if (!check(slow.remove(dumped.value()).status(), "delete one by one")) return false;
  row.one_by_one.push_back(ms_since(t));
  return check(table.insert(canary), "re-insert");
}

void print(const Row& r) {
  std::printf("%zu entries (created in %.0f ms, batched)\n", r.entries, r.insert_ms);
  std::printf(
      "  revoke, the agent's path     %8.1f ms  %zu dump(s), %zu examined, %zu deleted "
      "(quarantine looked for)\n",
      median(r.revoke), r.scoped.dumps, r.scoped.examined, r.scoped.deleted);
  std::printf("    of which dump + judge      %8.1f ms\n", median(r.revoke_dump));
  std::printf("    of which delete (batched)  %8.1f ms\n", median(r.revoke_delete));
  std::printf("  ... none in quarantine       %8.1f ms  %zu dump(s) (no dump by mark)\n",
              median(r.lean), r.scoped_lean.dumps);
  std::printf("  full dump + judge + delete   %8.1f ms  %zu examined, %zu deleted\n",
              median(r.full), r.everything.examined, r.everything.deleted);
  std::printf("    the full dump alone        %8.1f ms\n", median(r.dump_all));
  std::printf("  kernel walk alone            %8.1f ms  (a filtered dump matching nothing)\n",
              median(r.walk));
  std::printf("  deletes, one round trip each %8.1f ms\n\n", median(r.one_by_one));
}

std::size_t conntrack_max() {
  std::ifstream in("/proc/sys/net/netfilter/nf_conntrack_max");
  std::size_t n = 0;
  in >> n;
  return n;
}

struct Args {
  std::vector<std::size_t> sizes = {10000, 250000};
  int runs = 5;
};

std::optional<Args> parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--entries") {
      args.sizes.clear();
      std::stringstream in(argv[i + 1]);
      for (std::string n; std::getline(in, n, ',');) args.sizes.push_back(std::stoul(n));
    } else if (flag == "--runs") {
      args.runs = std::max(1, std::stoi(argv[i + 1]));
    } else {
      return std::nullopt;
    }
  }
  if (argc % 2 == 0 || args.sizes.empty()) return std::nullopt;
  return args;
}

struct Sockets {
  std::unique_ptr<KernelTable> table, slow;
  std::unique_ptr<nft::KernelNetlink> nl;
};

// All the entries of one size, then `runs` runs; the table is emptied at the end.
std::optional<Row> measure(Sockets& s, std::size_t n, int runs, const nft::Program& before,
                           const nft::Program& after) {
  const std::vector<Entry> all = entries(n);
  std::vector<Entry> canary;
  for (std::size_t i = 0; i < n; i += kPods) canary.push_back(all[i]);
  Row row{.entries = n};
  const Clock::time_point t = Clock::now();
  if (!check(s.table->insert(all), "insert")) return std::nullopt;
  row.insert_ms = ms_since(t);
  for (int r = 0; r < runs; ++r) {
    if (!run_once(*s.table, *s.slow, before, after, canary, row)) return std::nullopt;
  }
  auto left = s.table->entries();
  if (!check(left.status(), "dump") || !check(s.table->remove(left.value()).status(), "clean up")) {
    return std::nullopt;
  }
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Args> args = parse_args(argc, argv);
  if (!args) {
    std::cerr << "usage: " << argv[0] << " [--entries N[,N...]] [--runs R]\n";
    return 2;
  }
  const std::size_t biggest = *std::max_element(args->sizes.begin(), args->sizes.end());
  if (const std::size_t max = conntrack_max(); max != 0 && max < biggest) {
    std::cerr << "conntrack-bench: net.netfilter.nf_conntrack_max is " << max << "\n";
    return 2;
  }
  std::string why_not;
  std::optional<Netns> ns = Netns::create(why_not);
  if (!ns) {
    std::cerr << "conntrack-bench: " << why_not << "\n";
    return 2;
  }
  Sockets s;
  ns->enter([&] {
    if (auto t = KernelTable::open(); t) s.table = std::move(t).value();
    if (auto t = KernelTable::open({.batch = 1}); t) s.slow = std::move(t).value();
    if (auto k = nft::KernelNetlink::open(); k) s.nl = std::move(k).value();
  });
  if (!s.table || !s.slow || !s.nl) {
    std::cerr << "conntrack-bench: cannot open netlink sockets in the namespace\n";
    return 1;
  }
  const nft::Program before = program(false);
  const nft::Program after = program(true);
  if (!check(s.nl->apply(nft::diff({}, before)), "apply") ||
      !check(s.nl->apply(nft::diff(before, after)), "apply")) {
    return 1;
  }
  std::printf("revoking the 1%% of the entries a change denies; median of %d run(s)\n\n",
              args->runs);
  for (const std::size_t n : args->sizes) {
    const std::optional<Row> row = measure(s, n, args->runs, before, after);
    if (!row) return 1;
    print(*row);
    if (n == 250000) {
      const double p8 = median(row->revoke);
      std::printf("P8 (<= 150 ms at 250k): revoke %.1f ms -> %s\n", p8,
                  p8 <= 150 ? "met" : "MISSED");
    }
  }
  return 0;
}
