// netlink-bench: KernelNetlink against nft(8) on a small program plus one 100k-element set
// (a hash set, then an interval set), in a network namespace created for the run and
// deleted at the end (also on failure or SIGINT/SIGTERM). Needs root, `ip` and `nft`.
//
//   nftpolicy-netlink-bench [--elements N] [--runs R]     (default: 100000 elements, 3 runs)
//
// For each set kind it prints the median over R runs of: KernelNetlink apply (ms, netlink
// messages, bytes of the batch), `nft -f` of render() of the same program (into another
// table), the ratio of the two, KernelNetlink read-back (dump(), checked against the
// program and against the element count `nft list` shows) and `nft list table`. The nft
// figures include starting `ip netns exec nft` (a few ms). Exits 1 if a read-back differs.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "nft/diff.h"
#include "nft/kernel_netlink.h"
#include "nft/render.h"

namespace {

using Clock = std::chrono::steady_clock;
using nft::Element;
using nft::KernelNetlink;
using nft::Program;
using nft::Set;
using nft::SetType;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Output {
  int status = -1;
  std::string text;
};

Output run(const std::string& command) {
  Output out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    return out;
  }
  char buffer[65536];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    out.text.append(buffer, n);
  }
  out.status = pclose(pipe);
  return out;
}

// The namespace's name, for the signal handler (which may only fork and exec).
char g_netns[64];

void remove_netns_and_exit(int signal) {
  pid_t child = fork();
  if (child == 0) {
    execlp("ip", "ip", "netns", "del", g_netns, static_cast<char*>(nullptr));
    _exit(127);
  }
  if (child > 0) {
    waitpid(child, nullptr, 0);
  }
  _exit(128 + signal);
}

class Netns {
 public:
  static std::optional<Netns> create(std::string& why_not) {
    if (geteuid() != 0) {
      return why_not = "needs root", std::nullopt;
    }
    std::string name = "nftpol-bench-" + std::to_string(getpid());
    std::snprintf(g_netns, sizeof(g_netns), "%s", name.c_str());
    struct sigaction action {};
    action.sa_handler = remove_netns_and_exit;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    if (Output o = run("ip netns add " + name); o.status != 0) {
      return why_not = "cannot create a network namespace: " + o.text, std::nullopt;
    }
    return Netns(std::move(name));
  }
  Netns(Netns&& other) noexcept : name_(std::move(other.name_)), dir_(std::move(other.dir_)) {
    other.name_.clear();
  }
  Netns& operator=(Netns&&) = delete;
  ~Netns() {
    if (!name_.empty()) {
      (void)run("ip netns del " + name_);
      std::filesystem::remove_all(dir_);
    }
  }

  Output nft(const std::string& args) const {
    return run("ip netns exec " + name_ + " nft " + args);
  }
  Output nft_file(const std::string& text) const {
    std::string path = dir_ + "/input.nft";
    std::ofstream(path) << text;
    return nft("-f " + path);
  }
  // The socket keeps the namespace of the thread that opened it.
  nft::Result<std::unique_ptr<KernelNetlink>> open_netlink() const {
    std::optional<nft::Result<std::unique_ptr<KernelNetlink>>> out;
    std::thread thread([&] {
      int fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        out.emplace(nft::make_error(nft::Errc::io, "cannot enter the namespace " + name_));
      } else {
        out.emplace(KernelNetlink::open());
      }
      if (fd >= 0) {
        close(fd);
      }
    });
    thread.join();
    return std::move(*out);
  }

 private:
  explicit Netns(std::string name)
      : name_(std::move(name)), dir_(std::filesystem::temp_directory_path() / name_) {
    std::filesystem::create_directories(dir_);
  }
  std::string name_;
  std::string dir_;
};

nft::Rule rule(std::vector<nft::Match> matches, nft::Statement statement) {
  return nft::Rule{.matches = std::move(matches), .statement = std::move(statement)};
}

// A small node program: peer and pod sets, a verdict map, base and pod chains.
Program small_program() {
  using namespace nft;
  Program p;
  p.put(Set{.name = "peers-v4",
            .type = SetType{.key = {KeyType::ipv4_addr}, .interval = true},
            .elements = {Element::prefix("10.0.0.0/8").value(),
                         Element::range("192.168.1.10", "192.168.1.20").value()}});
  p.put(Set{.name = "ports-web",
            .type = SetType{.key = {KeyType::inet_proto, KeyType::inet_service}, .interval = true},
            .elements = {Element::proto_port(kProtoTcp, 80),
                         Element::proto_port_range(kProtoTcp, 8000, 8080)}});
  p.put(Set{.name = "ingress-v4",
            .type = SetType{.key = {KeyType::ipv4_addr}, .verdict_map = true},
            .elements = {Element::ipv4("10.244.1.5").value().with(Verdict::jump("pod-a"))}});
  p.put(Chain{
      .name = "forward",
      .base = BaseChain{.hook = Hook::forward},
      .rules = {rule({CtStateMatch{.states = kCtEstablished | kCtRelated}}, Verdict::accept()),
                rule({}, VmapDispatch{.family = Family::ipv4, .map = "ingress-v4"})}});
  p.put(Chain{.name = "pod-a",
              .rules = {rule({AddrSetMatch{.set = "peers-v4"}, PortSetMatch{.set = "ports-web"}},
                             Verdict::return_()),
                        rule({AddrSetMatch{.set = "big"}}, Verdict::return_()),
                        rule({}, Verdict::drop())}});
  return p;
}

Set big_set(std::size_t n, bool interval) {
  Set big{.name = "big", .type = SetType{.key = {nft::KeyType::ipv4_addr}, .interval = interval}};
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t a = 0x0b000000u + 2 * i;  // 11.0.0.0, 11.0.0.2, ...: no two adjacent
    big.elements.insert(
        Element::ipv4({static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16),
                       static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a)}));
  }
  return big;
}

// The number of elements `nft list set` shows (commas between the braces + 1).
std::size_t nft_element_count(const Netns& ns, const std::string& table) {
  Output o = ns.nft("list set inet " + table + " big");
  std::size_t open = o.text.find("elements = {");
  if (o.status != 0 || open == std::string::npos) {
    return 0;
  }
  std::size_t close = o.text.find('}', open);
  return 1 + static_cast<std::size_t>(std::count(o.text.begin() + static_cast<long>(open),
                                                 o.text.begin() + static_cast<long>(close), ','));
}

struct Row {
  std::vector<double> apply_ms, nft_f_ms, read_ms, nft_list_ms;
  std::size_t messages = 0, bytes = 0, attempts = 0;
};

// One run for one set kind; false (and a message on stderr) on failure.
bool measure(const Netns& ns, KernelNetlink& k, const Program& p, Row& row) {
  // Start from nothing: nft may have changed the ruleset, and dump() re-reads the generation.
  if (Output o = ns.nft("flush ruleset"); o.status != 0) {
    return std::cerr << "nft flush ruleset: " << o.text, false;
  }
  if (auto empty = k.dump(p.table); !empty || !empty.value().empty()) {
    return std::cerr << "the namespace is not empty\n", false;
  }
  Clock::time_point t = Clock::now();
  if (nft::Status s = k.apply(nft::diff(Program{}, p)); !s) {
    return std::cerr << "apply: " << s.error().to_string() << "\n", false;
  }
  row.apply_ms.push_back(ms_since(t));
  row.messages = k.last_apply().messages;
  row.bytes = k.last_apply().bytes;

  t = Clock::now();
  auto back = k.dump(p.table);
  row.read_ms.push_back(ms_since(t));
  if (!back) {
    return std::cerr << "dump: " << back.error().to_string() << "\n", false;
  }
  row.attempts = std::max(row.attempts, k.last_dump().attempts);
  std::size_t want = p.sets.at("big").elements.size();
  std::size_t got =
      back.value().sets.count("big") ? back.value().sets.at("big").elements.size() : 0;
  std::size_t listed = nft_element_count(ns, p.table);
  if (!(back.value() == p) || got != want || listed != want) {
    std::cerr << "read-back differs: " << got << " elements read back, " << listed
              << " listed by nft, " << want << " applied\n";
    return false;
  }

  Program reference = p;
  reference.table = "reference";
  std::string script = nft::render(reference);
  t = Clock::now();
  if (Output o = ns.nft_file(script); o.status != 0) {
    return std::cerr << "nft -f: " << o.text.substr(0, 2000), false;
  }
  row.nft_f_ms.push_back(ms_since(t));

  t = Clock::now();
  if (Output o = ns.nft("list table inet reference > /dev/null"); o.status != 0) {
    return std::cerr << "nft list table: " << o.text, false;
  }
  row.nft_list_ms.push_back(ms_since(t));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t elements = 100000;
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--elements") {
      elements = std::stoul(argv[i + 1]);
    } else if (flag == "--runs") {
      runs = std::max(1, std::stoi(argv[i + 1]));
    } else {
      std::cerr << "usage: " << argv[0] << " [--elements N] [--runs R]\n";
      return 2;
    }
  }
  std::string why_not;
  std::optional<Netns> ns = Netns::create(why_not);
  if (!ns) {
    std::cerr << "netlink-bench: " << why_not << "\n";
    return 2;
  }
  auto k = ns->open_netlink();
  if (!k) {
    std::cerr << "netlink-bench: " << k.error().to_string() << "\n";
    return 1;
  }
  std::printf(
      "%zu-element set + small program, median of %d run(s); nft times include `ip "
      "netns exec`\n\n",
      elements, runs);
  std::printf("%-9s %9s %9s %10s %9s %8s %10s %9s %13s\n", "set", "apply ms", "messages", "bytes",
              "nft -f ms", "ours/nft", "readback", "attempts", "nft list ms");
  int status = 0;
  for (bool interval : {false, true}) {
    Program p = small_program();
    p.put(big_set(elements, interval));
    Row row;
    for (int r = 0; r < runs; ++r) {
      if (!measure(*ns, *k.value(), p, row)) {
        status = 1;
        break;
      }
    }
    if (row.nft_list_ms.empty()) {
      continue;
    }
    double apply = median(row.apply_ms);
    double nft_f = median(row.nft_f_ms);
    std::printf("%-9s %9.1f %9zu %10zu %9.1f %8.2f %10.1f %9zu %13.1f\n",
                interval ? "interval" : "hash", apply, row.messages, row.bytes, nft_f,
                apply / nft_f, median(row.read_ms), row.attempts, median(row.nft_list_ms));
  }
  std::printf(
      "\n(readback: KernelNetlink dump(), checked equal to the program; attempts: the\n"
      " most dump() needed in a run — > 1 when a hash set was still resizing)\n");
  return status;
}
