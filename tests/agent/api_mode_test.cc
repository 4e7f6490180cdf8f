// The agent binary in API mode against the API server stand-in, both inside a network
// namespace the test creates and deletes (root only; skipped otherwise): readiness, metrics,
// live policy changes, repair of a table deleted by hand, SIGTERM keeping the rules and
// --cleanup-on-exit removing them.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "tests/agent/process.h"

namespace {

namespace fs = std::filesystem;

using agent_test::Out;
using agent_test::sh;

bool eventually(const std::function<bool()>& pred, int seconds = 10) {
  return agent_test::eventually(pred, std::chrono::seconds(seconds), std::chrono::milliseconds(50));
}

class ApiModeTest : public testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
    if (sh("command -v python3").rc != 0) GTEST_SKIP() << "python3 missing";
    ns_ = "npapi-" + std::to_string(::getpid());
    dir_ = fs::temp_directory_path() / ns_;
    fs::create_directories(dir_);
    ASSERT_EQ(sh("ip netns add " + ns_).rc, 0);
    ASSERT_EQ(sh(in_ns("ip link set lo up")).rc, 0);
    standin_ = spawn(in_ns("python3 " NFTPOLICY_STANDIN " --dir " + (dir_ / "api").string() +
                           " --listen 127.0.0.1:16443 --bookmark-interval 0.2"),
                     dir_ / "standin.log");
    ASSERT_TRUE(eventually([&] { return fs::exists(dir_ / "api" / "url"); }))
        << read(dir_ / "standin.log");
  }
  void TearDown() override {
    for (pid_t p : {agent_, standin_}) {
      if (p > 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, 0);
      }
    }
    if (!ns_.empty()) (void)sh("ip netns del " + ns_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string in_ns(const std::string& cmd) const { return "ip netns exec " + ns_ + " " + cmd; }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  static pid_t spawn(const std::string& cmd, const fs::path& log) {
    return agent_test::spawn(cmd + " >" + log.string() + " 2>&1");
  }
  void start_agent(const std::string& extra = "") {
    agent_ = spawn(in_ns(std::string(NFTPOLICY_AGENT) + " --node n1 --kubeconfig " +
                         (dir_ / "api" / "kubeconfig").string() +
                         " --listen-address 127.0.0.1:19745 " + extra),
                   dir_ / "agent.log");
  }
  int stop_agent() {
    const int rc = agent_test::stop(agent_);
    agent_ = -1;
    return rc;
  }
  // An HTTP request from inside the namespace: "<status>\n<body>".
  std::string http(const std::string& method, const std::string& url,
                   const std::string& body = "") {
    const fs::path script = dir_ / "np_request.py";
    std::ofstream(script)
        << "import sys, urllib.request, urllib.error\n"
           "m, u, b = sys.argv[1], sys.argv[2], sys.argv[3].encode() or None\n"
           "r = urllib.request.Request(u, data=b, method=m, headers={'Content-Type': "
           "'application/json'})\n"
           "try:\n  resp = urllib.request.urlopen(r, timeout=5)\n"
           "  print(resp.status); print(resp.read().decode())\n"
           "except urllib.error.HTTPError as e:\n"
           "  print(e.code); print(e.read().decode())\n"
           "except Exception as e:\n  print(0); print(e)\n";
    return sh(in_ns("python3 " + script.string() + " " + method + " '" + url + "' '" + body + "'"))
        .text;
  }
  std::string api(const std::string& method, const std::string& path,
                  const std::string& body = "") {
    return http(method, "http://127.0.0.1:16443" + path, body);
  }
  std::string table() { return sh(in_ns("nft list table inet nftpolicy")).text; }

  std::string ns_;
  fs::path dir_;
  pid_t standin_ = -1;
  pid_t agent_ = -1;
};

constexpr const char* kPod =
    R"({"resource":"pods","object":{"apiVersion":"v1","kind":"Pod",)"
    R"("metadata":{"name":"a","namespace":"default","labels":{"app":"a"}},)"
    R"("spec":{"nodeName":"n1","containers":[{"name":"c","image":"i"}]},)"
    R"("status":{"phase":"Running","podIP":"10.244.1.10",)"
    R"("podIPs":[{"ip":"10.244.1.10"}]}}})";
constexpr const char* kDenyAll = R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",)"
                                 R"("metadata":{"name":"deny","namespace":"default"},)"
                                 R"("spec":{"podSelector":{}}})";
constexpr const char* kPolicies = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies";

TEST_F(ApiModeTest, FollowsTheApiServerRepairsTamperingAndKeepsRulesOnSigterm) {
  const std::string stored =
      api("POST", "/_standin/faults", std::string(R"({"store_raw":)") + kPod + "}");
  ASSERT_EQ(stored.substr(0, 3), "200") << stored;
  start_agent("--resync-interval 0");  // no periodic read-back: the monitor must see it
  ASSERT_TRUE(eventually([&] {
    return http("GET", "http://127.0.0.1:19745/readyz").rfind("200", 0) == 0;
  })) << read(dir_ / "agent.log");
  EXPECT_EQ(table().find("10.244.1.10 : jump"), std::string::npos);  // not isolated yet

  ASSERT_EQ(api("POST", kPolicies, kDenyAll).substr(0, 3), "201");
  ASSERT_TRUE(eventually([&] {
    return table().find("10.244.1.10 : jump ingress-") != std::string::npos;
  })) << table()
      << read(dir_ / "agent.log");
  const std::string metrics = http("GET", "http://127.0.0.1:19745/metrics");
  EXPECT_NE(metrics.find("nftpolicy_syncs_total{result=\"ok\"}"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("nftpolicy_synced_resource_version{resource=\"networkpolicies\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("nftpolicy_cluster_objects{kind=\"pods\"} 1"), std::string::npos)
      << metrics;

  // Someone deletes our table: the agent sees the netlink notifications and restores it.
  ASSERT_EQ(sh(in_ns("nft delete table inet nftpolicy")).rc, 0);
  ASSERT_TRUE(eventually([&] {
    return table().find("10.244.1.10 : jump ingress-") != std::string::npos;
  })) << read(dir_ / "agent.log");
  EXPECT_TRUE(eventually([&] {
    return http("GET", "http://127.0.0.1:19745/metrics").find("nftpolicy_drift_repairs_total 1") !=
           std::string::npos;
  }));

  ASSERT_EQ(api("DELETE", std::string(kPolicies) + "/deny").substr(0, 3), "200");
  ASSERT_TRUE(eventually([&] { return table().find("10.244.1.10 : jump") == std::string::npos; }))
      << table();

  ASSERT_EQ(api("POST", kPolicies, kDenyAll).substr(0, 3), "201");
  ASSERT_TRUE(eventually([&] { return table().find("10.244.1.10 : jump") != std::string::npos; }));
  EXPECT_EQ(stop_agent(), 0);
  // SIGTERM: the node stays protected through an upgrade.
  EXPECT_NE(table().find("10.244.1.10 : jump ingress-"), std::string::npos);
  EXPECT_NE(read(dir_ / "agent.log").find("the rules stay in place"), std::string::npos);

  start_agent("--cleanup-on-exit");
  ASSERT_TRUE(eventually(
      [&] { return http("GET", "http://127.0.0.1:19745/readyz").rfind("200", 0) == 0; }));
  EXPECT_EQ(stop_agent(), 0);
  EXPECT_NE(sh(in_ns("nft list table inet nftpolicy")).rc, 0) << table();
}

TEST_F(ApiModeTest, PodsOfOtherNodesArePatchedIntoPeerSetsWithoutACompile) {
  const std::string stored =
      api("POST", "/_standin/faults", std::string(R"({"store_raw":)") + kPod + "}");
  ASSERT_EQ(stored.substr(0, 3), "200") << stored;
  ASSERT_EQ(api("POST", kPolicies,
                R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",)"
                R"("metadata":{"name":"from-web","namespace":"default"},)"
                R"("spec":{"podSelector":{},"ingress":[{"from":[{"podSelector":)"
                R"({"matchLabels":{"role":"web"}}}]}]}})")
                .substr(0, 3),
            "201");
  start_agent();
  ASSERT_TRUE(eventually([&] { return table().find("10.244.1.10 : jump") != std::string::npos; }));
  const std::string remote =
      R"({"store_raw":{"resource":"pods","object":{"apiVersion":"v1","kind":"Pod",)"
      R"("metadata":{"name":"b","namespace":"default","labels":{"role":"web"}},)"
      R"("spec":{"nodeName":"n2"},"status":{"phase":"Running","podIP":"10.244.2.20",)"
      R"("podIPs":[{"ip":"10.244.2.20"}]}}}})";
  ASSERT_EQ(api("POST", "/_standin/faults", remote).substr(0, 3), "200");
  ASSERT_TRUE(eventually([&] { return table().find("10.244.2.20") != std::string::npos; }))
      << table();
  std::string relabelled = remote;
  relabelled.replace(relabelled.find(R"("role":"web")"), 12, R"("role":"db")");
  ASSERT_EQ(api("POST", "/_standin/faults", relabelled).substr(0, 3), "200");
  ASSERT_TRUE(eventually([&] { return table().find("10.244.2.20") == std::string::npos; }))
      << table();
  const std::string log = read(dir_ / "agent.log");
  EXPECT_NE(log.find("kind=incremental"), std::string::npos) << log;
  const std::string metrics = http("GET", "http://127.0.0.1:19745/metrics");
  EXPECT_NE(metrics.find("nftpolicy_sync_kinds_total{kind=\"incremental\"} 2"), std::string::npos)
      << metrics;
}

TEST_F(ApiModeTest, NotReadyAndNothingAppliedUntilTheFirstListCompletes) {
  // Every LIST of network policies fails: the agent must not enforce a partial picture.
  ASSERT_EQ(api("POST", "/_standin/faults",
                R"({"fail":{"status":500,"count":100000,"path_prefix":"/apis/networking.k8s.io"}})")
                .substr(0, 3),
            "200");
  start_agent();
  ASSERT_TRUE(eventually(
      [&] { return http("GET", "http://127.0.0.1:19745/healthz").rfind("200", 0) == 0; }));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(http("GET", "http://127.0.0.1:19745/readyz").substr(0, 3), "503");
  EXPECT_NE(sh(in_ns("nft list table inet nftpolicy")).rc, 0);
  ASSERT_EQ(api("POST", "/_standin/reset", "{}").substr(0, 3), "200");
  EXPECT_TRUE(eventually([&] {
    return http("GET", "http://127.0.0.1:19745/readyz").rfind("200", 0) == 0;
  })) << read(dir_ / "agent.log");
  EXPECT_EQ(sh(in_ns("nft list table inet nftpolicy")).rc, 0);
}

}  // namespace
