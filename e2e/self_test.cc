// Self-test of the harness without an enforcer: a hand-written nft drop rule in node n2 must
// make the prober report exactly the pairs it drops, through pod IPs and ClusterIPs alike, and
// removing it must make every pair connect again. It checks the dataplane the agent relies on:
// the forward hook sees routed cross-node traffic, bridged same-node traffic (br_netfilter) and
// post-DNAT destinations.
#include "self_test.h"

#include <cstdio>

namespace e2e {

namespace {

constexpr const char* kTable = "npe2e_selftest";  // never the agent's inet nftpolicy

std::string ip4(const Cluster& cl, const std::string& key) {
  return ip_of_family(cl.pod(key).spec.ips, "IPv4");
}

std::string drop_rules(const Cluster& cl) {
  return std::string("table inet ") + kTable +
         " {\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n"
         // stateful like a policy: replies of the connections it allows pass
         "    ct state established,related accept\n"
         // routed from n1: y/a to every pod on n2, TCP port 80 only
         "    ip saddr " +
         ip4(cl, "y/a") +
         " tcp dport 80 drop\n"
         // bridged inside n2: x/b to z/b, every port and protocol
         "    ip saddr " +
         ip4(cl, "x/b") + " ip daddr " + ip4(cl, "z/b") + " drop\n  }\n}\n";
}

std::vector<cases::Probe> expected_with_rule() {
  const std::set<cases::Pair> bridged = {{"x/b", "z/b"}};
  std::set<cases::Pair> tcp80 = bridged;
  for (const char* to : {"x/b", "y/b", "z/b"}) tcp80.emplace("y/a", to);
  return {{.port = 80, .protocol = "TCP", .deny = tcp80},
          {.port = 80, .protocol = "UDP", .deny = bridged},
          {.port = 81, .protocol = "TCP", .deny = bridged},
          {.port = 81, .protocol = "UDP", .deny = bridged}};
}

}  // namespace

int run_self_test(Cluster& cluster, Runner& runner, const cases::Case& model) {
  for (const char* key : {"y/a", "x/b", "z/b", "y/b"}) {
    if (model.find_pod(key) == nullptr) {
      std::printf("self-test needs the upstream model cluster; %s has no pod %s\n",
                  model.name.c_str(), key);
      return 2;
    }
  }
  if (!cluster.matches(model)) cluster.create(model);
  runner.reset_nodes();
  const std::string n2 = cluster.nodes().at(1).netns;
  const std::string rules = drop_rules(cluster);
  std::printf("self-test: in %s (node n2):\n%s", n2.c_str(), rules.c_str());
  must_run(in_netns(n2, {"nft", "-f", "-"}), {.input = rules});
  const CheckResult with = runner.check(model, "drop rule in n2", expected_with_rule());
  std::printf("%s  self-test with the drop rule: %zu probes, exactly the dropped pairs blocked\n",
              with.ok ? "PASS" : "FAIL", with.probes);
  must_run(in_netns(n2, {"nft", "delete", "table", "inet", kTable}));
  const CheckResult without = runner.check(model, "rule removed", all_allowed_probes(model));
  std::printf("%s  self-test after removing it: %zu probes, every pair connects\n",
              without.ok ? "PASS" : "FAIL", without.probes);
  return with.ok && without.ok ? 0 : 1;
}

}  // namespace e2e
