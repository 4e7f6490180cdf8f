// Cluster-wide rules that are not about one policy: which pod owns an IP two pods claim.
#include <gtest/gtest.h>

#include "policy/parse.h"
#include "tests/policy/test_util.h"

namespace policy {
namespace {

std::string pod_doc(const std::string& name, const std::string& ip, const std::string& created,
                    const std::string& extra_meta = "", const std::string& phase = "Running") {
  return "---\n{apiVersion: v1, kind: Pod, metadata: {name: " + name +
         ", namespace: x, labels: {app: " + name + "}, creationTimestamp: '" + created + "'" +
         extra_meta + "}, spec: {nodeName: n1}, status: {phase: " + phase + ", podIP: " + ip +
         "}}\n";
}

std::vector<std::string> ips(const Cluster& c, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& ip : c.find_pod(key)->ips) out.push_back(ip.str());
  return out;
}

TEST(ClusterIpConflicts, ANewPodOwnsTheIpOfATerminatingOne) {
  // The kubelet reuses an IP as soon as the old sandbox is gone; the old pod object may still
  // be terminating. The new pod must not inherit the old one's labels in peer sets.
  auto r = testing::load(pod_doc("old", "10.0.0.9", "2024-01-01T00:00:00Z",
                                 ", deletionTimestamp: '2024-01-02T00:00:00Z'") +
                         pod_doc("new", "10.0.0.9", "2024-01-02T00:00:01Z"));
  ASSERT_TRUE(r.ok()) << testing::all_errors(r);
  EXPECT_EQ(ips(r.cluster, "x/old"), std::vector<std::string>{});
  EXPECT_EQ(ips(r.cluster, "x/new"), std::vector<std::string>{"10.0.0.9"});
  EXPECT_EQ(r.cluster.find_pod_by_ip(*common::IpAddr::parse("10.0.0.9"))->name, "new");
}

TEST(ClusterIpConflicts, PreferenceOrder) {
  struct Case {
    const char* what;
    std::string a, b;
    const char* owner;
  };
  const Case cases[] = {
      {"newer wins", pod_doc("a", "10.0.0.1", "2024-01-01T00:00:00Z"),
       pod_doc("b", "10.0.0.1", "2024-01-01T00:00:01Z"), "x/b"},
      {"not terminating beats newer terminating", pod_doc("a", "10.0.0.1", "2024-01-01T00:00:00Z"),
       pod_doc("b", "10.0.0.1", "2024-01-05T00:00:00Z",
               ", deletionTimestamp: '2024-01-06T00:00:00Z'"),
       "x/a"},
      {"live beats newer finished", pod_doc("a", "10.0.0.1", "2024-01-01T00:00:00Z"),
       pod_doc("b", "10.0.0.1", "2024-01-05T00:00:00Z", "", "Succeeded"), "x/a"},
      {"same age: the smaller name, deterministically",
       pod_doc("b", "10.0.0.1", "2024-01-01T00:00:00Z"),
       pod_doc("a", "10.0.0.1", "2024-01-01T00:00:00Z"), "x/a"},
  };
  for (const auto& c : cases) {
    auto r = testing::load(c.a + c.b);
    ASSERT_TRUE(r.ok()) << c.what << testing::all_errors(r);
    const std::string loser = std::string(c.owner) == "x/a" ? "x/b" : "x/a";
    EXPECT_EQ(ips(r.cluster, c.owner), std::vector<std::string>{"10.0.0.1"}) << c.what;
    EXPECT_EQ(ips(r.cluster, loser), std::vector<std::string>{}) << c.what;
  }
}

TEST(ClusterIpConflicts, HostNetworkPodsKeepTheSharedNodeAddress) {
  auto r = testing::load(
      "---\n{apiVersion: v1, kind: Pod, metadata: {name: a, namespace: x}, spec: {hostNetwork: "
      "true, nodeName: n1}, status: {podIP: 192.168.0.1}}\n"
      "---\n{apiVersion: v1, kind: Pod, metadata: {name: b, namespace: x}, spec: {hostNetwork: "
      "true, nodeName: n1}, status: {podIP: 192.168.0.1}}\n");
  ASSERT_TRUE(r.ok()) << testing::all_errors(r);
  EXPECT_EQ(ips(r.cluster, "x/a"), std::vector<std::string>{"192.168.0.1"});
  EXPECT_EQ(ips(r.cluster, "x/b"), std::vector<std::string>{"192.168.0.1"});
}

TEST(ParseTimestamp, Rfc3339AsTheApiServerWritesIt) {
  EXPECT_EQ(parse_timestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_timestamp("2024-05-01T12:34:56Z"), 1714566896);
  EXPECT_FALSE(parse_timestamp("2024-05-01 12:34:56"));
  EXPECT_FALSE(parse_timestamp("2024-05-01T12:34:56Zjunk"));
  EXPECT_FALSE(parse_timestamp(""));
}

}  // namespace
}  // namespace policy
