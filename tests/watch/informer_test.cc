// The informer against a scripted transport: pagination, resuming watches, bookmarks, 410
// relists, expired continue tokens, malformed events, bounded lines, backoff.
#include "watch/informer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/watch/scripted_transport.h"

namespace watch {
namespace {

using json = nlohmann::json;
using testing::Scripted;
using testing::ScriptedTransport;

struct RecordingSink final : EventSink {
  std::vector<std::string> calls;
  void begin_list(Resource) override { calls.push_back("begin"); }
  void listed(Resource, const json& o) override {
    calls.push_back("listed " + o["metadata"]["name"].get<std::string>());
  }
  void end_list(Resource, bool complete, const std::string& rv) override {
    calls.push_back(complete ? "end" : "abandon");
    if (complete) last_rv = rv;
  }
  void progress(Resource, const std::string& rv) override { last_rv = rv; }
  std::string last_rv;
  void event(Resource, EventType t, const json& o) override {
    const auto& meta = o["metadata"];
    calls.push_back(std::string(t == EventType::remove ? "remove " : "upsert ") +
                    (meta.contains("name") ? meta["name"].get<std::string>() : "?"));
  }
};

json pod(const std::string& name, int rv) {
  return {
      {"metadata", {{"name", name}, {"namespace", "x"}, {"resourceVersion", std::to_string(rv)}}}};
}

Scripted page(std::vector<json> items, int rv, const std::string& cont = "") {
  json meta = {{"resourceVersion", std::to_string(rv)}};
  if (!cont.empty()) meta["continue"] = cont;
  return Scripted{
      .response = {200, json{{"kind", "PodList"}, {"metadata", meta}, {"items", items}}.dump()}};
}

std::string line(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

Scripted stream(std::vector<std::string> chunks) {
  return Scripted{.chunks = std::move(chunks)};
}

InformerOptions fast() {
  return {.page_size = 2,
          .backoff_initial = std::chrono::milliseconds(1),
          .backoff_max = std::chrono::milliseconds(2),
          .seed = 1};
}

struct Harness {
  ScriptedTransport transport;
  RecordingSink sink;
  std::unique_ptr<Informer> informer;
  void go(InformerOptions o = fast()) {
    informer = std::make_unique<Informer>(transport, Resource::pods, sink, o);
    informer->run();  // returns when the script is exhausted
  }
  std::vector<std::string> watches() const {
    std::vector<std::string> out;
    for (const auto& t : transport.targets) {
      if (t.rfind("WATCH", 0) == 0) out.push_back(t.substr(t.find("resourceVersion=") + 16));
    }
    return out;
  }
};

bool starts_with(const std::string& s, const std::string& p) {
  return s.rfind(p, 0) == 0;
}

TEST(Informer, PaginatedListThenWatchFromItsResourceVersion) {
  Harness r;
  r.transport.add_get(page({pod("a", 3), pod("b", 4)}, 10, "c1/="));
  r.transport.add_get(page({pod("c", 5)}, 10));
  r.go();
  ASSERT_GE(r.transport.targets.size(), 3u);
  EXPECT_EQ(r.transport.targets[0], "GET /api/v1/pods?limit=2");
  EXPECT_EQ(r.transport.targets[1], "GET /api/v1/pods?limit=2&continue=c1%2F%3D");
  EXPECT_TRUE(starts_with(r.transport.targets[2],
                          "WATCH /api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=10&"
                          "timeoutSeconds="));
  EXPECT_EQ(r.sink.calls,
            (std::vector<std::string>{"begin", "listed a", "listed b", "listed c", "end"}));
  EXPECT_TRUE(r.informer->stats().synced);
  EXPECT_EQ(r.informer->stats().list_pages, 2u);
}

TEST(Informer, EventsSplitAnywhereAndBookmarksMoveTheResumePoint) {
  Harness r;
  r.transport.add_get(page({}, 10));
  const std::string events =
      line("ADDED", pod("a", 11)) + line("MODIFIED", pod("a", 12)) +
      line("BOOKMARK", {{"kind", "Pod"}, {"metadata", {{"resourceVersion", "15"}}}});
  // Split into 7-byte pieces: lines and JSON cut anywhere.
  std::vector<std::string> chunks;
  for (std::size_t i = 0; i < events.size(); i += 7) chunks.push_back(events.substr(i, 7));
  r.transport.add_stream(stream(chunks));
  r.transport.add_stream(stream({line("DELETED", pod("a", 16))}));
  r.go();
  EXPECT_EQ(r.sink.calls,
            (std::vector<std::string>{"begin", "end", "upsert a", "upsert a", "remove a"}));
  EXPECT_EQ(r.watches()[0].substr(0, 2), "10");
  EXPECT_EQ(r.watches()[1].substr(0, 2), "15");  // resumed after the bookmark, no relist
  EXPECT_EQ(r.watches()[2].substr(0, 2), "16");
  EXPECT_EQ(r.informer->stats().bookmarks, 1u);
  EXPECT_EQ(r.informer->stats().lists, 1u);
}

TEST(Informer, GoneAsAnErrorEventRelists) {
  Harness r;
  r.transport.add_get(page({pod("a", 3), pod("b", 4)}, 10));
  r.transport.add_stream(
      stream({line("ERROR", {{"kind", "Status"},
                             {"code", 410},
                             {"reason", "Expired"},
                             {"message", "too old resource version: 10 (20)"}})}));
  r.transport.add_get(page({pod("b", 4)}, 25));  // a was deleted while we were away
  r.go();
  EXPECT_EQ(r.sink.calls, (std::vector<std::string>{"begin", "listed a", "listed b", "end", "begin",
                                                    "listed b", "end"}));
  EXPECT_EQ(r.informer->stats().relists, 1u);
  EXPECT_EQ(r.watches().back().substr(0, 2), "25");
}

TEST(Informer, GoneAsAnHttpStatusRelists) {
  Harness r;
  r.transport.add_get(page({}, 10));
  r.transport.add_stream(
      Scripted{.response = {410, R"({"kind":"Status","code":410,"message":"gone"})"}});
  r.transport.add_get(page({}, 30));
  r.go();
  EXPECT_EQ(r.informer->stats().relists, 1u);
  EXPECT_EQ(r.watches().back().substr(0, 2), "30");
}

TEST(Informer, ExpiredContinueTokenRestartsTheList) {
  Harness r;
  r.transport.add_get(page({pod("a", 3), pod("b", 4)}, 10, "tok"));
  r.transport.add_get(
      Scripted{.response = {410, R"({"kind":"Status","code":410,"reason":"Expired"})"}});
  r.transport.add_get(page({pod("a", 3), pod("b", 4)}, 40, "tok2"));
  r.transport.add_get(page({pod("c", 5)}, 40));
  r.go();
  EXPECT_EQ(r.sink.calls,
            (std::vector<std::string>{"begin", "listed a", "listed b", "abandon", "begin",
                                      "listed a", "listed b", "listed c", "end"}));
  EXPECT_EQ(r.watches()[0].substr(0, 2), "40");
}

TEST(Informer, MalformedLineEndsTheStreamAndTheWatchResumesFromTheLastGoodVersion) {
  Harness r;
  r.transport.add_get(page({}, 10));
  r.transport.add_stream(
      stream({line("ADDED", pod("a", 11)), "{not json\n", line("ADDED", pod("b", 12))}));
  r.transport.add_stream(stream({line("ADDED", pod("b", 12))}));
  r.go();
  EXPECT_EQ(r.sink.calls, (std::vector<std::string>{"begin", "end", "upsert a", "upsert b"}));
  EXPECT_EQ(r.informer->stats().decode_errors, 1u);
  EXPECT_EQ(r.watches()[1].substr(0, 2), "11");
  EXPECT_EQ(r.informer->stats().lists, 1u);  // no relist for a bad line
}

TEST(Informer, UnknownEventTypeIsADecodeError) {
  Harness r;
  r.transport.add_get(page({}, 10));
  r.transport.add_stream(stream({line("EXPLODED", pod("a", 11))}));
  r.go();
  EXPECT_EQ(r.informer->stats().decode_errors, 1u);
  EXPECT_EQ(r.sink.calls, (std::vector<std::string>{"begin", "end"}));
}

TEST(Informer, DroppedStreamBacksOffAndResumesWithoutRelisting) {
  Harness r;
  r.transport.add_get(page({}, 10));
  r.transport.add_stream(Scripted{.error = make_error(Errc::connect, "connection reset"),
                                  .chunks = {line("ADDED", pod("a", 11))}});
  r.transport.add_stream(Scripted{.error = make_error(Errc::connect, "connection refused")});
  r.transport.add_stream(stream({line("ADDED", pod("b", 13))}));
  r.go();
  EXPECT_EQ(r.sink.calls, (std::vector<std::string>{"begin", "end", "upsert a", "upsert b"}));
  EXPECT_EQ(r.informer->stats().errors, 2u);
  EXPECT_EQ(r.informer->stats().lists, 1u);
  const auto w = r.watches();
  EXPECT_EQ(w[1].substr(0, 2), "11");
  EXPECT_EQ(w[2].substr(0, 2), "11");
}

TEST(Informer, ListFailuresAreRetried) {
  Harness r;
  r.transport.add_get(Scripted{.response = {500, R"({"kind":"Status","message":"etcd is sad"})"}});
  r.transport.add_get(Scripted{.error = make_error(Errc::connect, "refused")});
  r.transport.add_get(Scripted{.response = {200, "[]"}});  // not a list
  r.transport.add_get(page({pod("a", 1)}, 10));
  r.go();
  EXPECT_EQ(r.informer->stats().errors, 3u);
  EXPECT_EQ(r.informer->stats().decode_errors, 1u);
  EXPECT_EQ(r.sink.calls.back(), "end");
  EXPECT_TRUE(r.informer->stats().synced);
}

TEST(Informer, ALineBeyondTheBoundIsRefused) {
  Harness r;
  r.transport.add_get(page({}, 10));
  r.transport.add_stream(stream({std::string(300, ' ') + "x", std::string(300, 'y')}));
  r.transport.add_stream(stream({line("ADDED", pod("a", 11))}));
  auto o = fast();
  o.max_line_bytes = 256;
  r.go(o);
  EXPECT_EQ(r.informer->stats().decode_errors, 1u);
  EXPECT_EQ(r.sink.calls.back(), "upsert a");
}

TEST(Informer, WatchTimeoutIsStretchedSoAgentsDoNotReconnectTogether) {
  Harness r;
  r.transport.add_get(page({}, 10));
  for (int i = 0; i < 20; ++i) r.transport.add_stream(stream({}));
  auto o = fast();
  o.watch_timeout = std::chrono::seconds(100);
  r.go(o);
  std::set<int> timeouts;
  for (const auto& t : r.transport.targets) {
    const auto p = t.find("timeoutSeconds=");
    if (p == std::string::npos) continue;
    const int s = std::stoi(t.substr(p + 15));
    EXPECT_GE(s, 100);
    EXPECT_LE(s, 200);
    timeouts.insert(s);
  }
  EXPECT_GT(timeouts.size(), 5u);
}

TEST(LineSplitter, KeepsPartialLinesAndEnforcesTheBound) {
  LineSplitter s(10);
  std::vector<std::string> lines;
  auto collect = [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  EXPECT_TRUE(s.feed("ab", collect));
  EXPECT_TRUE(s.feed("c\nde\n\nf", collect));
  EXPECT_EQ(lines, (std::vector<std::string>{"abc", "de", ""}));
  EXPECT_FALSE(s.feed("0123456789", collect));  // "f" + 10 bytes > 10
}

}  // namespace
}  // namespace watch
