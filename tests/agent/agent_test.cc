// The agent binary in static mode, against the real kernel: inside a network namespace that
// each test creates and deletes (root only; skipped otherwise).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tests/agent/process.h"

namespace {

namespace fs = std::filesystem;

using agent_test::eventually;
using agent_test::Out;
using agent_test::sh;
using agent_test::spawn;
using agent_test::stop;

class AgentTest : public testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
    ns_ = "npagent-" + std::to_string(::getpid()) + "-" +
          testing::UnitTest::GetInstance()->current_test_info()->name();
    if (ns_.size() > 60) ns_.resize(60);
    ASSERT_EQ(sh("ip netns add " + ns_).rc, 0);
    dir_ = fs::temp_directory_path() / ns_;
    fs::create_directories(dir_ / "m");
    for (const auto& e : fs::directory_iterator(NFTPOLICY_EXAMPLES_DIR "/policies"))
      fs::copy(e.path(), dir_ / "m" / e.path().filename());
    fs::copy(NFTPOLICY_EXAMPLES_DIR "/cluster.yaml", dir_ / "m" / "cluster.yaml");
  }
  void TearDown() override {
    if (ns_.empty()) return;
    (void)sh("ip netns del " + ns_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Out agent(const std::string& args) {
    return sh("ip netns exec " + ns_ + " " + NFTPOLICY_AGENT + " --node node-1 --manifests " +
              (dir_ / "m").string() + " " + args);
  }
  Out list() { return sh("ip netns exec " + ns_ + " nft list table inet nftpolicy"); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / "m" / name) << text;
  }

  std::string ns_;
  fs::path dir_;
};

TEST_F(AgentTest, OnceAppliesAndASecondRunHasNothingToDo) {
  const auto first = agent("--once");
  ASSERT_EQ(first.rc, 0) << first.text;
  EXPECT_NE(first.text.find("result=ok"), std::string::npos) << first.text;
  EXPECT_NE(list().text.find("ip daddr vmap @ingress-v4"), std::string::npos);
  const auto second = agent("--once");
  ASSERT_EQ(second.rc, 0) << second.text;
  // The read-back equals what was applied: nothing to send.
  EXPECT_NE(second.text.find(" ops=0 "), std::string::npos) << second.text;
}

TEST_F(AgentTest, UnusableManifestsLeaveThePreviousRulesUntouched) {
  ASSERT_EQ(agent("--once").rc, 0);
  const std::string before = list().text;
  write("broken.yaml", "kind: NetworkPolicy\nspec: {podSelector: [\n");
  const auto r = agent("--once");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.text.find("broken.yaml"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("previous rules stay in place"), std::string::npos) << r.text;
  EXPECT_EQ(list().text, before);
}

TEST_F(AgentTest, InvalidPoliciesAreSkippedAndTheOthersEnforced) {
  write("bad-policy.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, "
        "namespace: payments}\nspec:\n  podSelector: {}\n  ingress: [{ports: [{port: 70000}]}]\n");
  const auto r = agent("--once");
  ASSERT_EQ(r.rc, 0) << r.text;
  EXPECT_NE(r.text.find("skipping invalid object"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("spec.ingress[0].ports[0].port"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("skipped=1"), std::string::npos) << r.text;
  EXPECT_NE(list().text.find("payments/api-from-shop ingress[0]"), std::string::npos);
}

TEST_F(AgentTest, TamperingIsRepairedAtTheNextSync) {
  ASSERT_EQ(agent("--once").rc, 0);
  const std::string clean = list().text;
  ASSERT_EQ(
      sh("ip netns exec " + ns_ + " nft insert rule inet nftpolicy forward meta mark 0x1 accept")
          .rc,
      0);
  ASSERT_EQ(sh("ip netns exec " + ns_ + " nft flush set inet nftpolicy cidr-v4-ed86eda99fea").rc,
            0);
  ASSERT_NE(list().text, clean);
  const auto r = agent("--once");
  ASSERT_EQ(r.rc, 0) << r.text;
  EXPECT_NE(r.text.find("repaired=true"), std::string::npos) << r.text;
  EXPECT_EQ(list().text, clean);
}

TEST_F(AgentTest, WatchModeAppliesFileChangesAndStopsOnSigterm) {
  const std::string log = (dir_ / "agent.log").string();
  const pid_t pid =
      spawn("ip netns exec " + ns_ + " " + NFTPOLICY_AGENT + " --node node-1 --manifests " +
            (dir_ / "m").string() + " >" + log + " 2>&1");
  ASSERT_GE(pid, 0);
  auto wait_for = [&](const std::string& needle) {
    return eventually([&] { return list().text.find(needle) != std::string::npos; });
  };
  EXPECT_TRUE(wait_for("payments/api-from-shop")) << list().text;
  fs::remove(dir_ / "m" / "30-api-from-shop.yaml");
  EXPECT_TRUE(wait_for("payments/allow-metrics ingress[0]"));
  for (int i = 0; i < 100 && list().text.find("api-from-shop") != std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(list().text.find("api-from-shop"), std::string::npos) << list().text;
  EXPECT_EQ(stop(pid), 0);
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_GE(std::count(text.begin(), text.end(), '\n'), 3) << text;
  EXPECT_NE(text.find("stopping"), std::string::npos) << text;
  // The rules outlive the agent: enforcement must not lapse during a restart.
  EXPECT_NE(list().text.find("ingress-v4"), std::string::npos);
}

TEST_F(AgentTest, PeriodicResyncRepairsDrift) {
  // Without the table monitor, only the periodic read-back can notice.
  const pid_t pid = spawn("ip netns exec " + ns_ + " " + NFTPOLICY_AGENT +
                          " --node node-1 --resync-interval 1 --no-table-monitor --manifests " +
                          (dir_ / "m").string() + " >/dev/null 2>&1");
  ASSERT_GE(pid, 0);
  const std::string element = "203.0.113.0/25";
  auto present = [&] { return list().text.find(element) != std::string::npos; };
  EXPECT_TRUE(eventually(present));
  ASSERT_EQ(sh("ip netns exec " + ns_ + " nft flush set inet nftpolicy cidr-v4-ed86eda99fea").rc,
            0);
  EXPECT_FALSE(present());
  EXPECT_TRUE(eventually(present, std::chrono::seconds(5))) << list().text;
  stop(pid);
}

TEST_F(AgentTest, JsonLogsCarryTheSyncFieldsAsMembers) {
  const auto r = agent("--once --log-format json");
  ASSERT_EQ(r.rc, 0) << r.text;
  const auto line = r.text.substr(0, r.text.find('\n'));
  EXPECT_EQ(line.front(), '{') << line;
  EXPECT_NE(line.find(R"("msg":"sync")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("node":"node-1")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("isolated_ingress":1,)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("result":"ok"})"), std::string::npos) << line;
}

TEST_F(AgentTest, EditsByOthersAreSeenAndRepairedWithoutWaitingForAResync) {
  const pid_t pid = spawn("ip netns exec " + ns_ + " " + NFTPOLICY_AGENT +
                          " --node node-1 --resync-interval 0 --listen-address '' --manifests " +
                          (dir_ / "m").string() + " >" + (dir_ / "log").string() + " 2>&1");
  ASSERT_GE(pid, 0);
  auto wait_until = [](const std::function<bool()>& pred) {
    return eventually(pred, std::chrono::seconds(2));
  };
  const std::string element = "203.0.113.0/25";
  ASSERT_TRUE(wait_until([&] { return list().text.find(element) != std::string::npos; }));
  const std::string clean = list().text;
  ASSERT_EQ(sh("ip netns exec " + ns_ + " nft flush set inet nftpolicy cidr-v4-ed86eda99fea").rc,
            0);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_until([&] { return list().text == clean; })) << list().text;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  ASSERT_EQ(sh("ip netns exec " + ns_ + " nft insert rule inet nftpolicy forward accept").rc, 0);
  EXPECT_TRUE(wait_until([&] { return list().text == clean; })) << list().text;
  stop(pid);
  std::ifstream in(dir_ / "log");
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("changed by another process"), std::string::npos) << log;
  EXPECT_NE(log.find("drift=true"), std::string::npos) << log;
}

TEST(AgentCli, UsageErrorsExitTwo) {
  EXPECT_EQ(sh(std::string(NFTPOLICY_AGENT) + " --manifests x").rc, 2);  // no --node
  // No --manifests and no API server configuration (no kubeconfig, not in a pod).
  EXPECT_EQ(sh("env -u KUBECONFIG -u KUBERNETES_SERVICE_HOST HOME=/nonexistent " +
               std::string(NFTPOLICY_AGENT) + " --node n1")
                .rc,
            2);
  // The quarantine mark is one bit (hex or decimal), or 0.
  for (const char* mark : {"0x3", "12", "0x100000000", "x", ""}) {
    EXPECT_EQ(sh(std::string(NFTPOLICY_AGENT) + " --node n1 --manifests x " +
                 "--conntrack-quarantine-mark '" + mark + "'")
                  .rc,
              2)
        << mark;
  }
  const auto help = sh(std::string(NFTPOLICY_AGENT) + " --help");
  EXPECT_EQ(help.rc, 0);
  EXPECT_NE(help.text.find("--once"), std::string::npos);
  EXPECT_NE(help.text.find("--conntrack-quarantine-mark"), std::string::npos);
}

// The quarantine rule heads every base chain with the flag's bit; 0 leaves it out.
TEST_F(AgentTest, TheQuarantineMarkFlagSetsTheRule) {
  ASSERT_EQ(agent("--once").rc, 0);
  EXPECT_NE(list().text.find("ct mark & 0x00800000 == 0x00800000 counter packets 0 bytes 0 drop "
                             "comment \"revoked connection\""),
            std::string::npos)
      << list().text;
  ASSERT_EQ(agent("--once --conntrack-quarantine-mark 16").rc, 0);
  EXPECT_NE(list().text.find("ct mark & 0x00000010 == 0x00000010"), std::string::npos);
  ASSERT_EQ(agent("--once --conntrack-quarantine-mark 0").rc, 0);
  EXPECT_EQ(list().text.find("ct mark"), std::string::npos) << list().text;
  // Without conntrack cleanup nothing would ever release a marked entry: no quarantine rule.
  ASSERT_EQ(agent("--once").rc, 0);
  ASSERT_NE(list().text.find("ct mark"), std::string::npos);
  ASSERT_EQ(agent("--once --no-conntrack-cleanup").rc, 0);
  EXPECT_EQ(list().text.find("ct mark"), std::string::npos) << list().text;
}

}  // namespace
