// kubeconfig and in-cluster configuration: what kubectl accepts, with field paths in errors.
#include "watch/kube_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace watch {
namespace {

namespace fs = std::filesystem;

struct KubeConfig : ::testing::Test {
  fs::path dir;
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("npkc-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  }
};

// "hello" in base64.
constexpr const char* kHello = "aGVsbG8=";

TEST_F(KubeConfig, TokenAndCaDataOfTheCurrentContext) {
  const auto path = write("config", std::string(R"(
apiVersion: v1
kind: Config
current-context: b
clusters:
- name: c1
  cluster: {server: "https://1.2.3.4:6443", certificate-authority-data: )") +
                                        kHello + R"(}
- name: c2
  cluster: {server: "https://5.6.7.8", insecure-skip-tls-verify: true}
users:
- name: u1
  user: {token: secret}
contexts:
- name: a
  context: {cluster: c2, user: u1}
- name: b
  context: {cluster: c1, user: u1}
)");
  auto c = load_kubeconfig({path});
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c.value().server, "https://1.2.3.4:6443");
  EXPECT_EQ(c.value().ca_pem, "hello");
  EXPECT_EQ(c.value().token, "secret");
  EXPECT_FALSE(c.value().insecure_skip_tls_verify);
  auto a = load_kubeconfig({path}, "a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a.value().server, "https://5.6.7.8");
  EXPECT_TRUE(a.value().insecure_skip_tls_verify);
}

TEST_F(KubeConfig, FilesAreRelativeToTheKubeconfig) {
  const auto path = write("config", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority: ca.crt}}]
users: [{name: u, user: {client-certificate: certs/c.crt, client-key: /abs/c.key, tokenFile: tok}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  auto c = load_kubeconfig({path});
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c.value().ca_file, (dir / "ca.crt").string());
  EXPECT_EQ(c.value().client_cert_file, (dir / "certs/c.crt").string());
  EXPECT_EQ(c.value().client_key_file, "/abs/c.key");
  EXPECT_EQ(c.value().token_file, (dir / "tok").string());
}

TEST_F(KubeConfig, MergedLikeKubectlFirstDefinitionWins) {
  const auto a = write("a", R"(
current-context: ctx
clusters: [{name: c, cluster: {server: "https://first"}}]
)");
  const auto b = write("b", R"(
current-context: other
clusters: [{name: c, cluster: {server: "https://second"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
)");
  auto c = load_kubeconfig({a, b});
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c.value().server, "https://first");
  EXPECT_EQ(c.value().token, "t");
}

TEST_F(KubeConfig, ErrorsNameTheFileAndTheField) {
  struct Case {
    const char* yaml;
    const char* expect;
  };
  const Case cases[] = {
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
       "clusters: [{name: c, cluster: {server: s}}]\n"
       "users: [{name: u, user: {exec: {command: aws}}}]\n",
       "users[0].user.exec: not supported"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {certificate-authority-data: '!!'}}]\n",
       "clusters[0].cluster.server: Required value"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: s, certificate-authority-data: '!!'}}]\n",
       "clusters[0].cluster.certificate-authority-data: is not valid base64"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: nope}}]\n",
       "clusters: no entry named \"nope\""},
      {"contexts: []\n", "no current-context"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
       "clusters: [{name: c, cluster: {server: s}}]\n"
       "users: [{name: u, user: {client-certificate-data: aGVsbG8=}}]\n",
       "must be given together"},
      {"clusters: {a: 1}\ncurrent-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n",
       "clusters: must be a list"},
      {"- just\n- a list\n", "must hold one YAML object"},
  };
  for (const auto& c : cases) {
    const auto path = write("bad", c.yaml);
    auto r = load_kubeconfig({path});
    ASSERT_FALSE(r) << c.yaml;
    EXPECT_EQ(r.error().code, Errc::config);
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos)
        << r.error().message << "\nwanted: " << c.expect;
  }
  auto missing = load_kubeconfig({(dir / "nope").string()});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot read"), std::string::npos);
}

TEST_F(KubeConfig, InClusterUsesTheServiceAccountFiles) {
  write("token", "t0k3n\n");
  write("ca.crt", "PEM");
  auto c = in_cluster_config(
      {{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}}, dir.string());
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c.value().server, "https://[fd00::1]:443");
  EXPECT_EQ(c.value().token_file, (dir / "token").string());
  EXPECT_EQ(c.value().ca_file, (dir / "ca.crt").string());
  EXPECT_FALSE(in_cluster_config({{"KUBERNETES_SERVICE_HOST", "1.2.3.4"}}, dir.string()));
  EXPECT_FALSE(in_cluster_config(
      {{"KUBERNETES_SERVICE_HOST", "1.2.3.4"}, {"KUBERNETES_SERVICE_PORT", "443"}},
      (dir / "missing").string()));
}

TEST_F(KubeConfig, PrecedenceFlagThenEnvThenInClusterThenHome) {
  const auto flag = write("flag",
                          "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                          "clusters: [{name: c, cluster: {server: https://flag}}]\n");
  const auto env = write("env",
                         "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                         "clusters: [{name: c, cluster: {server: https://env}}]\n");
  write("token", "t");
  Environment e{{"KUBECONFIG", "/nonexistent:" + env},
                {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                {"KUBERNETES_SERVICE_PORT", "443"}};
  EXPECT_EQ(resolve_config(flag, "", e, dir.string()).value().server, "https://flag");
  EXPECT_EQ(resolve_config("", "", e, dir.string()).value().server, "https://env");
  e.erase("KUBECONFIG");
  EXPECT_EQ(resolve_config("", "", e, dir.string()).value().server, "https://10.0.0.1:443");
  EXPECT_FALSE(resolve_config("", "", {{"HOME", dir.string()}}, dir.string()));
}

}  // namespace
}  // namespace watch
