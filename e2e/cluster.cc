#include "cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace e2e {

namespace {

using json = nlohmann::json;

constexpr const char* kUnderlayDev = "ul0";
constexpr const char* kBridge = "cni0";

std::string underlay_ip(int index, bool v6) {
  return v6 ? "fd00:77::" + std::to_string(index) : "192.168.77." + std::to_string(index);
}

// Parses "a.b.c.d" or an IPv6 address into 16 bytes (v4 in the first 4); false if neither.
bool parse_ip(const std::string& ip, unsigned char out[16], bool& v6) {
  std::memset(out, 0, 16);
  v6 = ip.find(':') != std::string::npos;
  return inet_pton(v6 ? AF_INET6 : AF_INET, ip.c_str(), out) == 1;
}

bool in_subnet(const std::string& ip, const std::string& cidr) {
  const auto slash = cidr.find('/');
  unsigned char a[16], n[16];
  bool v6a = false, v6n = false;
  if (!parse_ip(ip, a, v6a) || !parse_ip(cidr.substr(0, slash), n, v6n) || v6a != v6n) return false;
  const int bits = std::stoi(cidr.substr(slash + 1));
  for (int i = 0; i < bits; ++i) {
    const unsigned char mask = static_cast<unsigned char>(0x80 >> (i % 8));
    if ((a[i / 8] & mask) != (n[i / 8] & mask)) return false;
  }
  return true;
}

std::vector<int> ports_of(const cases::CasePod& p, const std::string& proto) {
  std::vector<int> out;
  for (const auto& port : p.ports) {
    if (port.protocol == proto) out.push_back(port.port);
  }
  return out;
}

std::string csv(const std::vector<int>& v) {
  std::string out;
  for (int x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

std::string topology_signature(const cases::Case& c) {
  std::vector<std::string> rows;
  for (const auto& p : c.pods) {
    std::string row = p.key() + "@" + p.node + " " + join(p.ips, ",");
    for (const auto& port : p.ports) row += " " + std::to_string(port.port) + "/" + port.protocol;
    rows.push_back(row);
  }
  return join(rows, "\n");  // file order matters too: it numbers the ClusterIPs
}

// ClusterIP of the pod with index i (file order), per family: 10.96.0.<10+i>, fd00:96::<10+i>.
std::string service_ip(size_t index, bool v6) {
  return (v6 ? "fd00:96::" : "10.96.0.") + std::to_string(10 + index);
}

}  // namespace

std::string node_subnet(int index, bool v6) {
  return v6 ? "fd00:10:244:" + std::to_string(index) + "::/64"
            : "10.244." + std::to_string(index) + ".0/24";
}

bool is_v6(const std::string& ip) {
  return ip.find(':') != std::string::npos;
}

std::string ip_of_family(const std::vector<std::string>& ips, const std::string& family) {
  if (family.empty()) return ips.empty() ? "" : ips.front();
  for (const auto& ip : ips) {
    if (is_v6(ip) == (family == "IPv6")) return ip;
  }
  return "";
}

Cluster::Cluster(Janitor& janitor, ClusterOptions opt) : janitor_(janitor), opt_(std::move(opt)) {}

Cluster::~Cluster() {
  if (opt_.keep) return;  // --keep: the namespaces stay for debugging; see README.md
  try {
    destroy();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "npe2e: teardown: %s\n", e.what());
  }
}

bool Cluster::matches(const cases::Case& c) const {
  return up() && signature_ == topology_signature(c);
}

const NodeInfo& Cluster::node(const std::string& name) const {
  for (const auto& n : nodes_) {
    if (n.name == name) return n;
  }
  throw std::runtime_error("pod on unknown node '" + name + "' (this harness has n1 and n2)");
}

void Cluster::create(const cases::Case& c) {
  destroy();
  create_nodes();
  for (size_t i = 0; i < c.pods.size(); ++i) create_pod(c.pods[i], i);
  install_services();
  signature_ = topology_signature(c);
}

// Node netns: forwarding on, DAD off (so the gateway and underlay v6 addresses are usable at
// once instead of "tentative" for a second), and bridged pod traffic sent through the ip/ip6
// hooks: without br_netfilter the agent's forward chain never sees pod-to-pod traffic on one
// node, and kube-proxy's DNAT replies would bypass conntrack. These sysctls are per netns.
void Cluster::create_nodes() {
  for (int k = 1; k <= 2; ++k) {
    NodeInfo n{.name = "n" + std::to_string(k),
               .netns = janitor_.add_netns("n" + std::to_string(k)),
               .index = k};
    must_run(in_netns(
        n.netns,
        {"sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
         "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
         "net.bridge.bridge-nf-call-iptables=1", "net.bridge.bridge-nf-call-ip6tables=1"}));
    must_run({"ip", "-n", n.netns, "link", "set", "lo", "up"});
    nodes_.push_back(n);
  }
  const NodeInfo &a = nodes_[0], &b = nodes_[1];
  // Created inside n1 with its peer moved straight to n2: no link ever exists in the root netns.
  must_run({"ip", "-n", a.netns, "link", "add", kUnderlayDev, "type", "veth", "peer", "name",
            kUnderlayDev, "netns", b.netns});
  for (const auto* n : {&a, &b}) {
    const NodeInfo& other = n == &a ? b : a;
    must_run({"ip", "-n", n->netns, "addr", "add", underlay_ip(n->index, false) + "/24", "dev",
              kUnderlayDev});
    must_run({"ip", "-n", n->netns, "addr", "add", underlay_ip(n->index, true) + "/64", "dev",
              kUnderlayDev, "nodad"});
    must_run({"ip", "-n", n->netns, "link", "set", kUnderlayDev, "up"});
    // host-gw: the other node's pod subnets are reached through its underlay address.
    for (bool v6 : {false, true}) {
      must_run({"ip", "-n", n->netns, "route", "add", node_subnet(other.index, v6), "via",
                underlay_ip(other.index, v6)});
    }
  }
}

void Cluster::create_pod(const cases::CasePod& p, size_t index) {
  const NodeInfo& n = node(p.node);
  for (const auto& ip : p.ips) {
    if (!in_subnet(ip, node_subnet(n.index, is_v6(ip))))
      throw std::runtime_error(p.key() + ": IP " + ip + " is not in node " + n.name + "'s subnet " +
                               node_subnet(n.index, is_v6(ip)));
  }
  PodInfo pod{.spec = p};
  std::string id = p.ns + "-" + p.name;
  pod.netns = janitor_.add_netns("pod-" + id);
  pod.container_id = janitor_.prefix() + id;
  for (const auto& ip : p.ips) pod.service_ips.push_back(service_ip(index, is_v6(ip)));
  auto& slot = pods_[p.key()] = std::move(pod);
  slot.netns_fd = open_netns(slot.netns);
  must_run({"ip", "-n", slot.netns, "link", "set", "lo", "up"});
  cni_add(slot);
  start_server(slot);
}

// The network configuration a kubelet/containerd would hand the plugin. One IP goes in
// CNI_ARGS "IP=" (host-local of plugins 1.1 takes a single one there); dual-stack pods pass
// theirs as runtimeConfig "ips", the capability containerd uses for static IPs.
std::string Cluster::cni_config(const PodInfo& pod) const {
  const NodeInfo& n = node(pod.spec.node);
  json ranges = json::array(), routes = json::array();
  bool has[2] = {false, false};
  for (const auto& ip : pod.spec.ips) has[is_v6(ip)] = true;
  for (bool v6 : {false, true}) {
    if (!has[v6]) continue;  // a range of a family the pod lacks would give it a random IP
    ranges.push_back(json::array({{{"subnet", node_subnet(n.index, v6)}}}));
    routes.push_back({{"dst", v6 ? "::/0" : "0.0.0.0/0"}});
  }
  json conf = {{"cniVersion", "1.0.0"},
               {"name", "npe2e"},
               {"type", "bridge"},
               {"bridge", kBridge},
               {"isGateway", true},
               {"ipMasq", false},
               {"hairpinMode", true},
               {"ipam",
                {{"type", "host-local"},
                 {"ranges", ranges},
                 {"routes", routes},
                 {"dataDir", janitor_.tmpdir() + "/cni-" + n.name}}}};
  if (pod.spec.ips.size() > 1) {
    conf["capabilities"] = {{"ips", true}};
    conf["runtimeConfig"] = {{"ips", pod.spec.ips}};
  }
  return conf.dump();
}

// Runs the bridge plugin inside the pod's node namespace, with the environment a container
// runtime sets; DEL gets the same arguments as ADD, as CNI requires.
RunResult Cluster::cni(const PodInfo& pod, const std::string& command) const {
  std::string args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + pod.spec.ns +
                     ";K8S_POD_NAME=" + pod.spec.name +
                     ";K8S_POD_INFRA_CONTAINER_ID=" + pod.container_id;
  if (pod.spec.ips.size() == 1) args += ";IP=" + pod.spec.ips.front();
  const RunOptions ro{.input = cni_config(pod),
                      .env = {{"CNI_COMMAND", command},
                              {"CNI_CONTAINERID", pod.container_id},
                              {"CNI_NETNS", "/run/netns/" + pod.netns},
                              {"CNI_IFNAME", "eth0"},
                              {"CNI_PATH", opt_.cni_bin},
                              {"CNI_ARGS", args}}};
  return run(in_netns(node(pod.spec.node).netns, {opt_.cni_bin + "/bridge"}), ro);
}

void Cluster::cni_add(const PodInfo& pod) const {
  const RunResult r = cni(pod, "ADD");
  if (r.rc != 0) throw std::runtime_error(pod.spec.key() + ": CNI ADD failed: " + r.out + r.err);
  // host-local silently picks another address when asked for a taken one: check ours came back.
  const json result = json::parse(r.out);
  for (const auto& want : pod.spec.ips) {
    bool found = false;
    for (const auto& got : result.value("ips", json::array()))
      found |= got.value("address", "").rfind(want + "/", 0) == 0;
    if (!found)
      throw std::runtime_error(pod.spec.key() + ": CNI did not assign " + want + ": " + r.out);
  }
}

// Forked from the main thread on purpose: PR_SET_PDEATHSIG fires when the forking THREAD
// exits, so a server forked from a worker thread would die with it.
void Cluster::start_server(PodInfo& pod) {
  std::vector<std::string> args = {opt_.pod_server, "--name", pod.spec.key()};
  if (auto t = ports_of(pod.spec, "TCP"); !t.empty()) args.insert(args.end(), {"--tcp", csv(t)});
  if (auto u = ports_of(pod.spec, "UDP"); !u.empty()) args.insert(args.end(), {"--udp", csv(u)});
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  // Its own stdin and stderr: a server kept alive by --keep must not hold the runner's
  // terminal or pipe open.
  const std::string log = janitor_.tmpdir() + "/" + pod.netns + ".log";
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    reset_child_signals();
    if (!opt_.keep && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)) _exit(126);
    if (setns(pod.netns_fd, CLONE_NEWNET) != 0) _exit(125);
    dup2(null_fd, 0), dup2(pipefd[1], 1), dup2(log_fd, 2);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  close(pipefd[1]), close(null_fd), close(log_fd);
  if (pid < 0) throw std::runtime_error("fork failed");
  janitor_.add_child(pid);
  pod.server = pid;
  pollfd pfd{pipefd[0], POLLIN, 0};
  char buf[16] = {};
  const bool ready = poll(&pfd, 1, 5000) == 1 && read(pipefd[0], buf, sizeof buf - 1) > 0 &&
                     std::strncmp(buf, "ready", 5) == 0;
  close(pipefd[0]);
  if (!ready) {
    std::ifstream in(log);
    const std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    throw std::runtime_error(pod.spec.key() + ": pod_server did not start: " + err);
  }
}

// kube-proxy stand-in: every node DNATs every pod's ClusterIP (for each served port and
// protocol) to the pod IP of the same family, before routing (pod traffic) and on output
// (node traffic). Its own tables; the agent's inet nftpolicy is never touched. Priority -100 is
// "dstnat", a keyword nft 1.0 accepts for prerouting only.
void Cluster::install_services() const {
  std::vector<std::string> elems[2];
  for (const auto& [key, pod] : pods_) {
    for (size_t i = 0; i < pod.spec.ips.size(); ++i) {
      for (const auto& port : pod.spec.ports) {
        std::string proto = port.protocol;
        for (auto& ch : proto) ch = static_cast<char>(std::tolower(ch));
        elems[is_v6(pod.spec.ips[i])].push_back(pod.service_ips[i] + " . " + proto + " . " +
                                                std::to_string(port.port) + " : " +
                                                pod.spec.ips[i]);
      }
    }
  }
  std::ostringstream nft;
  for (bool v6 : {false, true}) {
    if (elems[v6].empty()) continue;
    const std::string fam = v6 ? "ip6" : "ip", addr = v6 ? "ipv6_addr" : "ipv4_addr";
    nft << "table " << fam << " kubeproxy {\n  map services {\n    type " << addr
        << " . inet_proto . inet_service : " << addr << "\n    elements = { "
        << join(elems[v6], ",\n      ") << " }\n  }\n";
    for (const char* hook : {"prerouting", "output"}) {
      nft << "  chain " << hook << " {\n    type nat hook " << hook
          << " priority -100; policy accept;\n    dnat to " << fam
          << " daddr . meta l4proto . th dport map @services\n  }\n";
    }
    nft << "}\n";
  }
  for (const auto& n : nodes_)
    must_run(in_netns(n.netns, {"nft", "-f", "-"}), {.input = nft.str()});
}

void Cluster::destroy() {
  if (!up()) return;
  for (auto& [key, pod] : pods_) {
    if (pod.server > 0) {
      kill(pod.server, SIGKILL);
      waitpid(pod.server, nullptr, 0);
      janitor_.forget_child(pod.server);
    }
    const RunResult r = cni(pod, "DEL");
    if (r.rc != 0)
      std::fprintf(stderr, "npe2e: CNI DEL %s: %s%s\n", key.c_str(), r.out.c_str(), r.err.c_str());
    if (pod.netns_fd >= 0) close(pod.netns_fd);
    janitor_.delete_netns(pod.netns);
  }
  pods_.clear();
  for (const auto& n : nodes_) janitor_.delete_netns(n.netns);
  nodes_.clear();
  signature_.clear();
}

std::string Cluster::describe() const {
  std::ostringstream out;
  for (const auto& n : nodes_) {
    out << "node " << n.name << ": netns " << n.netns << ", underlay "
        << underlay_ip(n.index, false) << " " << underlay_ip(n.index, true) << ", pods "
        << node_subnet(n.index, false) << " " << node_subnet(n.index, true) << "\n";
  }
  for (const auto& [key, p] : pods_) {
    out << "pod " << key << " on " << p.spec.node << ": netns " << p.netns << ", IPs "
        << join(p.spec.ips, ",") << ", ClusterIPs " << join(p.service_ips, ",") << "\n";
  }
  return out.str();
}

}  // namespace e2e
