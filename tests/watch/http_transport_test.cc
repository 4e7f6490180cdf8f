// HttpTransport and the informers against the API server stand-in: TLS with a token, a
// client certificate (inline and from files), rejection without credentials or with the
// wrong CA, token rotation through the token file, streaming watches, faults.
#include "watch/http_transport.h"

#include <cpprest/http_client.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/watch/standin.h"
#include "watch/cluster_store.h"
#include "watch/informer.h"

namespace watch {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Control-API and write requests to the stand-in, outside the code under test.
int post(const std::string& url, const std::string& path, const json& body,
         const std::string& token = "", const std::string& method = "POST") {
  web::http::client::http_client_config cfg;
  cfg.set_validate_certificates(false);
  web::http::client::http_client c(url, cfg);
  web::http::http_request req(method);
  req.set_request_uri(path);
  req.set_body(body.dump(), "application/json");
  if (!token.empty()) req.headers().add("Authorization", "Bearer " + token);
  return c.request(req).get().status_code();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

ClientConfig from(const testing::StandIn& s, const std::string& kubeconfig) {
  auto c = load_kubeconfig({s.path(kubeconfig)});
  EXPECT_TRUE(c) << c.error().to_string();
  return c.value();
}

int list_status(const ClientConfig& config) {
  auto t = HttpTransport::create(config);
  if (!t) return -1;
  auto r = t.value()->get("/api/v1/namespaces?limit=10");
  return r ? r.value().status : 0;  // 0: the connection failed (TLS)
}

TEST(HttpTransport, TlsWithTokenClientCertAndFiles) {
  REQUIRE_STANDIN(s, "--tls");
  EXPECT_EQ(list_status(from(*s, "kubeconfig")), 200);
  EXPECT_EQ(list_status(from(*s, "kubeconfig-cert")), 200);
  EXPECT_EQ(list_status(from(*s, "kubeconfig-files")), 200);
  auto anonymous = from(*s, "kubeconfig");
  anonymous.token.clear();
  EXPECT_EQ(list_status(anonymous), 401);
  // A CA that did not sign the server's certificate: the connection is refused.
  auto wrong_ca = from(*s, "kubeconfig");
  wrong_ca.ca_pem = s->read("client.crt");
  EXPECT_EQ(list_status(wrong_ca), 0);
  auto insecure = wrong_ca;
  insecure.insecure_skip_tls_verify = true;
  EXPECT_EQ(list_status(insecure), 200);
}

TEST(HttpTransport, UnusableTlsMaterialIsAConfigError) {
  ClientConfig c{.server = "https://127.0.0.1:1", .ca_pem = "not pem"};
  auto t = HttpTransport::create(c);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::config);
  c = ClientConfig{.server = "https://127.0.0.1:1", .client_cert_file = "/nonexistent"};
  EXPECT_FALSE(HttpTransport::create(c));
  c = ClientConfig{.server = "ftp://x"};
  EXPECT_FALSE(HttpTransport::create(c));
}

TEST(HttpTransport, TheTokenFileIsReadForEveryRequest) {
  REQUIRE_STANDIN(s, "--tls");
  auto config = from(*s, "kubeconfig");
  const std::string file = s->path("rotating-token");
  std::ofstream(file) << config.token << "\n";
  config.token.clear();
  config.token_file = file;
  auto t = HttpTransport::create(config);
  ASSERT_TRUE(t);
  EXPECT_EQ(t.value()->get("/api/v1/pods").value().status, 200);
  // The kubelet rotates the token: the server accepts only the new one from now on.
  ASSERT_EQ(post(s->url(), "/_standin/faults", {{"tokens", {"rotated"}}}), 200);
  EXPECT_EQ(t.value()->get("/api/v1/pods").value().status, 401);
  std::ofstream(file) << "rotated\n";
  EXPECT_EQ(t.value()->get("/api/v1/pods").value().status, 200);
}

TEST(HttpTransport, CancelEndsABlockedStreamPromptly) {
  REQUIRE_STANDIN(s, "--bookmark-interval", "30");
  auto t = HttpTransport::create(from(*s, "kubeconfig"));
  ASSERT_TRUE(t);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    t.value()->cancel();
  });
  const auto t0 = Clock::now();
  auto r = t.value()->stream("/api/v1/pods?watch=1&resourceVersion=",
                             [](std::string_view) { return true; });
  canceller.join();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::cancelled);
}

// Informers and the store against the stand-in, with the faults the watch must survive.
struct Live {
  std::unique_ptr<HttpTransport> transport;
  ClusterStore store;
  std::vector<std::unique_ptr<Informer>> informers;
  std::vector<std::thread> threads;
  explicit Live(const ClientConfig& config) {
    transport = std::move(HttpTransport::create(config).value());
    for (auto r : kResources) {
      informers.push_back(std::make_unique<Informer>(
          *transport, r, store,
          InformerOptions{.page_size = 2,
                          .backoff_initial = std::chrono::milliseconds(20),
                          .backoff_max = std::chrono::milliseconds(200)}));
    }
    for (auto& i : informers) threads.emplace_back([&i] { i->run(); });
  }
  ~Live() {
    for (auto& i : informers) i->stop();
    transport->cancel();
    for (auto& t : threads) t.join();
  }
  // Waits until `pred(cluster)` holds; false after 10 s.
  bool until(const std::function<bool(const policy::Cluster&)>& pred) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      bool ok = false;
      store.read([&](const policy::Cluster& c, const ClusterStore::View&) { ok = pred(c); });
      if (ok) return true;
      store.wait_change(store.generation(), Clock::now() + std::chrono::milliseconds(50));
    }
    return false;
  }
  // Waits until `pred()` (which may call the store, outside its lock) holds.
  bool eventually(const std::function<bool()>& pred) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  const InformerStats& stats(Resource r) { return informers[static_cast<int>(r)]->stats(); }
};

json np(const std::string& name) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"podSelector", json::object()}}}};
}

const char* kPolicies = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies";

TEST(Informers, FollowTheStandInThroughDroppedStreamsAndCompaction) {
  REQUIRE_STANDIN(s, "--tls", "--bookmark-interval", "0.2");
  const std::string token = trim(s->read("token"));
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(post(s->url(), kPolicies, np("p" + std::to_string(i)), token), 201);
  Live live(from(*s, "kubeconfig"));
  auto count_is = [](std::size_t n) {
    return [n](const policy::Cluster& c) { return c.policies.size() == n; };
  };
  ASSERT_TRUE(live.until(count_is(5)));  // listed in pages of 2
  EXPECT_TRUE(live.eventually([&] { return live.store.synced(); }));
  EXPECT_GE(live.stats(Resource::networkpolicies).list_pages, 3u);

  // Dropped mid-way: the watch resumes from its resourceVersion, no relist.
  ASSERT_EQ(post(s->url(), "/_standin/faults", {{"drop_watches", true}}), 200);
  ASSERT_EQ(post(s->url(), kPolicies, np("after-drop"), token), 201);
  ASSERT_TRUE(live.until(count_is(6)));
  EXPECT_EQ(live.stats(Resource::networkpolicies).relists, 0u);

  // Deleted while the watch was broken, then the history compacted: 410 -> relist, and the
  // deletion is reconciled from the new list.
  ASSERT_EQ(post(s->url(), "/_standin/faults",
                 {{"fail",
                   {{"status", 500},
                    {"count", 1000},
                    {"method", "GET"},
                    {"path_prefix", "/apis/networking.k8s.io"}}}}),
            200);
  ASSERT_EQ(post(s->url(), "/_standin/faults", {{"drop_watches", true}}), 200);
  ASSERT_EQ(post(s->url(), std::string(kPolicies) + "/p0", json::object(), token, "DELETE"), 200);
  ASSERT_EQ(post(s->url(), "/_standin/faults", {{"compact", true}}), 200);
  ASSERT_EQ(post(s->url(), "/_standin/reset", json::object()), 200);
  ASSERT_TRUE(live.until(count_is(5)));
  EXPECT_GE(live.stats(Resource::networkpolicies).relists, 1u);
  EXPECT_GE(live.stats(Resource::networkpolicies).errors, 1u);
}

TEST(Informers, MalformedEventsAreSurvived) {
  REQUIRE_STANDIN(s, "--bookmark-interval", "0.2");
  const std::string token = trim(s->read("token"));
  Live live(from(*s, "kubeconfig"));
  ASSERT_TRUE(live.until([](const policy::Cluster& c) { return c.namespaces.size() >= 3; }));
  // The fault goes into the open watch streams only: wait until the policies' one delivers
  // (a bookmark every 0.2 s), not just until its list is done.
  ASSERT_TRUE(
      live.eventually([&] { return live.stats(Resource::networkpolicies).bookmarks >= 1; }));
  // An object that is no NetworkPolicy: reported, left out, the stream goes on.
  ASSERT_EQ(post(s->url(), "/_standin/faults",
                 {{"malformed_event", {{"resource", "networkpolicies"}, {"kind", "object"}}}}),
            200);
  ASSERT_TRUE(live.eventually([&] { return live.store.stats().malformed >= 1; }));
  // A line that is not JSON: the stream ends and the watch resumes.
  ASSERT_EQ(post(s->url(), "/_standin/faults",
                 {{"malformed_event", {{"resource", "networkpolicies"}, {"kind", "json"}}}}),
            200);
  ASSERT_TRUE(
      live.eventually([&] { return live.stats(Resource::networkpolicies).decode_errors >= 1; }));
  ASSERT_EQ(post(s->url(), kPolicies, np("good"), token), 201);
  ASSERT_TRUE(live.until([](const policy::Cluster& c) { return c.policies.size() == 1; }));
  EXPECT_EQ(live.stats(Resource::networkpolicies).lists, 1u);
}

}  // namespace
}  // namespace watch
