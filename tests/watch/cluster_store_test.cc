// The ClusterStore: events and lists in, the policy::Cluster the compiler reads out.
#include "watch/cluster_store.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace watch {
namespace {

using json = nlohmann::json;

json pod(const std::string& ns, const std::string& name, std::vector<std::string> ips,
         json labels = json::object(), std::string created = "2024-01-01T00:00:00Z") {
  json podips = json::array();
  for (const auto& ip : ips) podips.push_back({{"ip", ip}});
  return {{"metadata",
           {{"name", name}, {"namespace", ns}, {"labels", labels}, {"creationTimestamp", created}}},
          {"spec", {{"nodeName", "n1"}}},
          {"status", {{"phase", "Running"}, {"podIPs", podips}}}};
}

json policy_obj(const std::string& ns, const std::string& name, json spec) {
  return {{"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", spec}};
}

json ns_obj(const std::string& name, json labels = json::object()) {
  return {{"metadata", {{"name", name}, {"labels", labels}}}};
}

common::IpAddr ip(const char* s) {
  return *common::IpAddr::parse(s);
}

struct Fixture : ::testing::Test {
  ClusterStore store;
  void list(Resource r, std::vector<json> objects) {
    store.begin_list(r);
    for (const auto& o : objects) store.listed(r, o);
    store.end_list(r, true, "1");
  }
  void sync_empty() {
    for (auto r : kResources) list(r, {});
  }
  policy::Cluster cluster() {
    policy::Cluster out;
    store.read([&](const policy::Cluster& c, const ClusterStore::View&) { out = c; });
    return out;
  }
  std::vector<std::string> ips_of(const std::string& key) {
    std::vector<std::string> out;
    const auto c = cluster();
    const auto* p = c.find_pod(key);
    if (!p) return {"<missing>"};
    for (const auto& a : p->ips) out.push_back(a.str());
    return out;
  }
};

TEST_F(Fixture, SyncedOnlyAfterEveryKindWasListed) {
  EXPECT_FALSE(store.synced());
  list(Resource::pods, {});
  list(Resource::namespaces, {});
  EXPECT_FALSE(store.synced());
  list(Resource::networkpolicies, {});
  EXPECT_TRUE(store.synced());
}

TEST_F(Fixture, EventsKeepPodsAndPoliciesSortedAndNamespacesImplied) {
  sync_empty();
  store.event(Resource::pods, EventType::upsert, pod("y", "b", {"10.0.0.2"}));
  store.event(Resource::pods, EventType::upsert, pod("x", "z", {"10.0.0.3"}));
  store.event(Resource::pods, EventType::upsert, pod("x", "a", {"10.0.0.1"}));
  store.event(Resource::networkpolicies, EventType::upsert, policy_obj("x", "p", json::object()));
  const auto c = cluster();
  ASSERT_EQ(c.pods.size(), 3u);
  EXPECT_EQ(c.pods[0].key(), "x/a");
  EXPECT_EQ(c.pods[1].key(), "x/z");
  EXPECT_EQ(c.pods[2].key(), "y/b");
  EXPECT_EQ(c.namespace_labels("y").at("kubernetes.io/metadata.name"), "y");
  EXPECT_EQ(c.policies.size(), 1u);
  store.event(Resource::pods, EventType::remove, pod("x", "z", {}));
  EXPECT_EQ(cluster().pods.size(), 2u);
}

TEST_F(Fixture, ChangesEnforcementDoesNotNeedLeaveTheGenerationAlone) {
  sync_empty();
  auto p = pod("x", "a", {"10.0.0.1"});
  store.event(Resource::pods, EventType::upsert, p);
  const auto g = store.generation();
  p["status"]["conditions"] = json::array({{{"type", "Ready"}, {"status", "True"}}});
  p["metadata"]["annotations"] = {{"x", "y"}};
  p["metadata"]["resourceVersion"] = "99";
  store.event(Resource::pods, EventType::upsert, p);
  EXPECT_EQ(store.generation(), g);
  EXPECT_EQ(store.stats().unchanged, 1u);
  p["metadata"]["labels"] = {{"app", "web"}};
  store.event(Resource::pods, EventType::upsert, p);
  EXPECT_GT(store.generation(), g);
}

TEST_F(Fixture, AnInvalidUpdateKeepsTheLastGoodVersion) {
  sync_empty();
  store.event(Resource::networkpolicies, EventType::upsert,
              policy_obj("x", "p", {{"podSelector", json::object()}}));
  const auto g = store.generation();
  store.event(Resource::networkpolicies, EventType::upsert,
              policy_obj("x", "p",
                         {{"podSelector", json::object()},
                          {"ingress", {{{"from", {{{"ipBlock", {{"cidr", "nonsense"}}}}}}}}}}));
  EXPECT_EQ(store.generation(), g);
  ASSERT_EQ(cluster().policies.size(), 1u);
  EXPECT_TRUE(cluster().policies[0].ingress.empty());
  const auto invalid = store.invalid_objects();
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_NE(invalid[0].find("NetworkPolicy x/p: spec.ingress[0].from[0].ipBlock.cidr"),
            std::string::npos)
      << invalid[0];
  // A new invalid object is left out; a valid update clears the report.
  store.event(Resource::pods, EventType::upsert, json{{"metadata", "not an object"}});
  EXPECT_EQ(cluster().pods.size(), 0u);
  EXPECT_EQ(store.stats().malformed, 1u);  // nameless: counted, not kept as invalid for ever
  store.event(Resource::networkpolicies, EventType::upsert,
              policy_obj("x", "p", {{"podSelector", {{"matchLabels", {{"a", "b"}}}}}}));
  EXPECT_EQ(store.invalid_objects().size(), 0u);
}

TEST_F(Fixture, InvalidObjectInARelistKeepsItsLastGoodVersion) {
  list(Resource::networkpolicies, {policy_obj("x", "p", json::object())});
  list(Resource::networkpolicies, {policy_obj("x", "p", {{"policyTypes", {"Sideways"}}})});
  EXPECT_EQ(cluster().policies.size(), 1u);
  EXPECT_EQ(store.invalid_objects().size(), 1u);
  list(Resource::networkpolicies, {});  // deleted for real
  EXPECT_EQ(cluster().policies.size(), 0u);
  EXPECT_EQ(store.invalid_objects().size(), 0u);
}

TEST_F(Fixture, RelistRemovesWhatWasDeletedMeanwhile) {
  list(Resource::pods, {pod("x", "a", {"10.0.0.1"}), pod("x", "b", {"10.0.0.2"})});
  list(Resource::namespaces, {ns_obj("x")});
  list(Resource::networkpolicies, {});
  EXPECT_TRUE(store.take_released_ips().empty());  // the first list releases nothing
  list(Resource::pods, {pod("x", "b", {"10.0.0.2"})});
  EXPECT_EQ(cluster().pods.size(), 1u);
  EXPECT_EQ(store.take_released_ips(), std::vector<common::IpAddr>{ip("10.0.0.1")});
}

TEST_F(Fixture, AnAbandonedListChangesNothing) {
  sync_empty();
  store.begin_list(Resource::pods);
  store.listed(Resource::pods, pod("x", "a", {"10.0.0.1"}));
  store.end_list(Resource::pods, false, "");
  EXPECT_TRUE(cluster().pods.empty());
}

TEST_F(Fixture, ANewPodTakesOverTheIpOfATerminatingOne) {
  sync_empty();
  store.event(Resource::pods, EventType::upsert,
              pod("x", "old", {"10.0.0.9"}, {{"role", "db"}}, "2024-01-01T00:00:00Z"));
  auto old = pod("x", "old", {"10.0.0.9"}, {{"role", "db"}}, "2024-01-01T00:00:00Z");
  old["metadata"]["deletionTimestamp"] = "2024-01-02T00:00:00Z";
  store.event(Resource::pods, EventType::upsert, old);
  EXPECT_TRUE(store.take_released_ips().empty());  // still its IP: it is terminating, not gone
  store.event(Resource::pods, EventType::upsert,
              pod("y", "new", {"10.0.0.9"}, {{"role", "web"}}, "2024-01-02T00:00:05Z"));
  EXPECT_EQ(ips_of("x/old"), std::vector<std::string>{});
  EXPECT_EQ(ips_of("y/new"), std::vector<std::string>{"10.0.0.9"});
  EXPECT_EQ(store.take_released_ips(), std::vector<common::IpAddr>{ip("10.0.0.9")});
  // The old pod goes away: the new one keeps the IP, nothing more to release.
  store.event(Resource::pods, EventType::remove, old);
  EXPECT_EQ(ips_of("y/new"), std::vector<std::string>{"10.0.0.9"});
  EXPECT_TRUE(store.take_released_ips().empty());
}

TEST_F(Fixture, ALiveOwnerWinsOverANewerPodThatAlreadyFinished) {
  sync_empty();
  store.event(Resource::pods, EventType::upsert,
              pod("x", "live", {"10.0.0.7"}, {}, "2024-01-01T00:00:00Z"));
  auto done = pod("x", "done", {"10.0.0.7"}, {}, "2024-01-03T00:00:00Z");
  done["status"]["phase"] = "Succeeded";
  store.event(Resource::pods, EventType::upsert, done);
  EXPECT_EQ(ips_of("x/live"), std::vector<std::string>{"10.0.0.7"});
  EXPECT_EQ(ips_of("x/done"), std::vector<std::string>{});
  // The store agrees with the batch rule the loader uses.
  auto c = cluster();
  auto claimed = c;
  claimed.pods[0].ips = {ip("10.0.0.7")};
  claimed.resolve_ip_conflicts();
  EXPECT_EQ(claimed.pods, c.pods);
}

TEST_F(Fixture, AFinishedPodReleasesItsIps) {
  sync_empty();
  auto p = pod("x", "job", {"10.0.0.5", "fd00::5"});
  store.event(Resource::pods, EventType::upsert, p);
  p["status"]["phase"] = "Failed";
  store.event(Resource::pods, EventType::upsert, p);
  EXPECT_EQ(store.take_released_ips(),
            (std::vector<common::IpAddr>{ip("10.0.0.5"), ip("fd00::5")}));
}

TEST_F(Fixture, ReleasedIpsCanBeLimitedToOneNode) {
  sync_empty();
  auto a = pod("x", "a", {"10.0.1.1"});
  auto b = pod("x", "b", {"10.0.2.1"});
  b["spec"]["nodeName"] = "n2";
  store.event(Resource::pods, EventType::upsert, a);
  store.event(Resource::pods, EventType::upsert, b);
  store.event(Resource::pods, EventType::remove, a);
  store.event(Resource::pods, EventType::remove, b);
  EXPECT_EQ(store.take_released_ips("n2"), std::vector<common::IpAddr>{ip("10.0.2.1")});
  EXPECT_TRUE(store.take_released_ips().empty());  // taken: the others are dropped
}

TEST_F(Fixture, ChangesOfPodsAreHandedOverOnceWithTheirPreviousVersion) {
  sync_empty();
  auto take = [&] {
    ClusterStore::View out;
    store.read([&](const policy::Cluster&, const ClusterStore::View& v) { out = v; }, true);
    return out;
  };
  EXPECT_TRUE(take().structural);  // the lists: everything is new
  store.event(Resource::pods, EventType::upsert, pod("x", "a", {"10.0.0.1"}, {{"app", "a"}}));
  auto v = take();
  EXPECT_TRUE(v.structural);  // namespace x appeared with it (implied)
  store.event(Resource::pods, EventType::upsert, pod("x", "a", {"10.0.0.1"}, {{"app", "b"}}));
  store.event(Resource::pods, EventType::upsert, pod("x", "a", {"10.0.0.1"}, {{"app", "c"}}));
  v = take();
  ASSERT_FALSE(v.structural);
  ASSERT_EQ(v.pods.size(), 1u);
  EXPECT_EQ(v.pods[0].before->labels.at("app"), "a");  // as last handed over
  EXPECT_EQ(v.pods[0].after->labels.at("app"), "c");
  EXPECT_TRUE(take().pods.empty());
  // Changed and changed back: nothing to hand over.
  store.event(Resource::pods, EventType::upsert, pod("x", "a", {"10.0.0.1"}, {{"app", "d"}}));
  store.event(Resource::pods, EventType::upsert, pod("x", "a", {"10.0.0.1"}, {{"app", "c"}}));
  EXPECT_TRUE(take().pods.empty());
  // A new pod taking the IP: both pods changed.
  store.event(Resource::pods, EventType::upsert,
              pod("x", "b", {"10.0.0.1"}, {}, "2025-01-01T00:00:00Z"));
  v = take();
  ASSERT_EQ(v.pods.size(), 2u);
  EXPECT_EQ(v.pods[0].after->ips.size(), 0u);  // x/a lost it
  EXPECT_FALSE(v.pods[1].before);              // x/b is new
  // A policy or namespace change: everything.
  store.event(Resource::networkpolicies, EventType::upsert, policy_obj("x", "p", json::object()));
  store.event(Resource::pods, EventType::remove, pod("x", "b", {}));
  v = take();
  EXPECT_TRUE(v.structural);
  EXPECT_TRUE(v.pods.empty());
}

TEST_F(Fixture, HostNetworkPodsShareTheNodeAddress) {
  sync_empty();
  auto a = pod("kube-system", "a", {"192.168.1.1"});
  a["spec"]["hostNetwork"] = true;
  auto b = pod("kube-system", "b", {"192.168.1.1"});
  b["spec"]["hostNetwork"] = true;
  store.event(Resource::pods, EventType::upsert, a);
  store.event(Resource::pods, EventType::upsert, b);
  EXPECT_EQ(ips_of("kube-system/a"), std::vector<std::string>{"192.168.1.1"});
  EXPECT_EQ(ips_of("kube-system/b"), std::vector<std::string>{"192.168.1.1"});
}

TEST_F(Fixture, DeletedNamespaceStaysImpliedWhileItHasPods) {
  list(Resource::namespaces, {ns_obj("x", {{"team", "a"}})});
  list(Resource::pods, {pod("x", "a", {"10.0.0.1"})});
  list(Resource::networkpolicies, {});
  EXPECT_EQ(cluster().namespace_labels("x").count("team"), 1u);
  store.event(Resource::namespaces, EventType::remove, ns_obj("x"));
  const auto c = cluster();
  ASSERT_EQ(c.namespaces.count("x"), 1u);
  EXPECT_FALSE(c.namespaces.at("x").declared);
  EXPECT_EQ(c.namespace_labels("x").count("team"), 0u);
}

TEST_F(Fixture, WaitChangeWakesOnEvents) {
  sync_empty();
  const auto g = store.generation();
  std::thread t(
      [&] { store.event(Resource::pods, EventType::upsert, pod("x", "a", {"10.0.0.1"})); });
  const auto got = store.wait_change(g, std::chrono::steady_clock::now() + std::chrono::seconds(5));
  t.join();
  EXPECT_NE(got, g);
}

}  // namespace
}  // namespace watch
