// libFuzzer target: what the API server sends — a LIST page and a WATCH stream of pods, any
// bytes — must never crash or hang the informer and the ClusterStore, and the store's result
// must compile. Oracle: when only pods changed after the list, the incremental element
// operations (compiler/incremental.h) must give exactly the program a full compile gives.
//
// Input: the first line is the body of the pods LIST; the rest is the WATCH stream.
// Namespaces and policies are fixed (two namespaces; a default deny and an allow-from-app=web
// in x), so that pod changes move addresses in and out of peer sets.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "compiler/compiler.h"
#include "compiler/incremental.h"
#include "watch/cluster_store.h"
#include "watch/informer.h"

namespace {

constexpr const char* kNamespaces =
    R"({"kind":"NamespaceList","metadata":{"resourceVersion":"1"},"items":[)"
    R"({"metadata":{"name":"x","labels":{"team":"a"}}},{"metadata":{"name":"y"}}]})";
constexpr const char* kPolicies =
    R"({"kind":"NetworkPolicyList","metadata":{"resourceVersion":"1"},"items":[)"
    R"({"metadata":{"name":"deny","namespace":"x"},"spec":{"podSelector":{}}},)"
    R"({"metadata":{"name":"web","namespace":"x"},"spec":{"podSelector":{},"ingress":[{"from":)"
    R"([{"podSelector":{"matchLabels":{"app":"web"}}},{"namespaceSelector":{"matchLabels":)"
    R"({"team":"a"}},"podSelector":{"matchLabels":{"app":"db"}}}]}]}}]})";

// The first GET answers `list`, the first WATCH streams `stream` (in pieces of a few bytes:
// lines cut anywhere); anything after that is "cancelled", which ends the informer's run.
class FuzzTransport final : public watch::Transport {
 public:
  FuzzTransport(std::string list, std::string stream)
      : list_(std::move(list)), stream_(std::move(stream)) {}
  watch::Result<watch::HttpResponse> get(const std::string&) override {
    if (listed_) return watch::make_error(watch::Errc::cancelled, "done");
    listed_ = true;
    return watch::HttpResponse{200, list_};
  }
  watch::Result<watch::HttpResponse> stream(
      const std::string&, const std::function<bool(std::string_view)>& on_data) override {
    if (streamed_ || stream_.empty()) return watch::make_error(watch::Errc::cancelled, "done");
    streamed_ = true;
    for (std::size_t i = 0; i < stream_.size(); i += 7) {
      if (!on_data(std::string_view(stream_).substr(i, 7))) break;
    }
    return watch::HttpResponse{200, ""};
  }
  void cancel() override {}

 private:
  std::string list_, stream_;
  bool listed_ = false;
  bool streamed_ = false;
};

void run(watch::ClusterStore& store, watch::Resource r, std::string list, std::string stream) {
  FuzzTransport t(std::move(list), std::move(stream));
  watch::Informer i(t, r, store,
                    {.backoff_initial = std::chrono::milliseconds(0),
                     .backoff_max = std::chrono::milliseconds(0),
                     .max_line_bytes = 1 << 16,
                     .seed = 1});
  i.run();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto nl = input.find('\n');
  const std::string list = input.substr(0, nl);
  const std::string stream = nl == std::string::npos ? "" : input.substr(nl + 1);
  watch::ClusterStore store;
  run(store, watch::Resource::namespaces, kNamespaces, "");
  run(store, watch::Resource::networkpolicies, kPolicies, "");
  run(store, watch::Resource::pods, list, "");
  std::optional<compiler::Compiled> base;
  store.read([&](const policy::Cluster& c,
                 const watch::ClusterStore::View&) { base = compiler::compile(c, "n1"); },
             true);
  // The same list again (a relist that changes nothing), then the stream.
  run(store, watch::Resource::pods, list, stream);
  store.read(
      [&](const policy::Cluster& c, const watch::ClusterStore::View& v) {
        const auto full = compiler::compile(c, "n1");
        if (v.structural || !base) return;
        const auto tx = compiler::update_peer_sets(base->program, base->recipes, c, v.pods, "n1");
        if (!tx) return;
        nft::Program patched = base->program;
        if (!nft::apply_elements(patched, *tx) || !(patched == full.program)) std::abort();
      },
      true);
  return 0;
}
