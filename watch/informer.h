// An informer keeps one resource kind (pods, namespaces or network policies, all namespaces)
// in step with the API server, the way client-go's reflector does:
//
//   LIST (paginated: limit/continue) -> hand the full set to the sink -> WATCH from the
//   list's resourceVersion with allowWatchBookmarks -> hand each event to the sink.
//
// - A watch that ends (server timeout, dropped connection, idle timeout) resumes from the
//   last resourceVersion seen (events and bookmarks move it), without a relist.
// - 410 Gone (the resourceVersion left the server's window, as an ERROR event or an HTTP
//   status, or an expired continue token) relists; the sink then learns which objects were
//   deleted meanwhile (those not in the new list).
// - Failures back off exponentially with jitter (initial..max), reset after a healthy watch.
// - Memory stays bounded on endless streams: the body is consumed line by line, a line may
//   not exceed max_line_bytes.
// - A line that is not JSON, or an event of an unknown type, ends the stream (counted as a
//   decode error) and the watch resumes from the last good resourceVersion.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <random>
#include <string>

#include "watch/result.h"
#include "watch/transport.h"

namespace watch {

enum class Resource : std::uint8_t { namespaces, pods, networkpolicies };
inline constexpr Resource kResources[] = {Resource::namespaces, Resource::pods,
                                          Resource::networkpolicies};
const char* to_string(Resource r);        // "pods"
const char* collection_path(Resource r);  // "/api/v1/pods"

enum class EventType : std::uint8_t { upsert, remove };

// Where the informer delivers. Calls for one resource come from one thread, in order.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // A full list: begin, every object, end with the list's resourceVersion. `complete` false:
  // the list was abandoned (an error half-way); nothing of it should be applied.
  virtual void begin_list(Resource r) = 0;
  virtual void listed(Resource r, const nlohmann::json& object) = 0;
  virtual void end_list(Resource r, bool complete, const std::string& rv) = 0;
  // A watch event: ADDED/MODIFIED are upserts, DELETED removes.
  virtual void event(Resource r, EventType type, const nlohmann::json& object) = 0;
  // Everything up to resourceVersion `rv` has been delivered (after an event or a bookmark).
  virtual void progress(Resource r, const std::string& rv) = 0;
};

struct InformerOptions {
  std::size_t page_size = 500;
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_max{30000};
  // timeoutSeconds asked of the server for each watch, stretched by a random factor in
  // [1, 2) so that the agents of a cluster do not all reconnect at once.
  std::chrono::seconds watch_timeout{300};
  std::size_t max_line_bytes = 16u << 20;
  std::uint64_t seed = 0;  // 0: random
};

// Counters, readable from any thread (metrics).
struct InformerStats {
  std::atomic<std::uint64_t> lists{0};       // full lists completed
  std::atomic<std::uint64_t> list_pages{0};  // LIST requests answered
  std::atomic<std::uint64_t> relists{0};     // lists after 410 Gone
  std::atomic<std::uint64_t> watches{0};     // WATCH requests started
  std::atomic<std::uint64_t> events{0};      // ADDED/MODIFIED/DELETED received
  std::atomic<std::uint64_t> bookmarks{0};
  std::atomic<std::uint64_t> errors{0};  // failed requests and broken streams
  std::atomic<std::uint64_t> decode_errors{0};
  std::atomic<bool> synced{false};  // a first full list was delivered
};

class Informer {
 public:
  Informer(Transport& transport, Resource resource, EventSink& sink, InformerOptions options = {});

  // Lists and watches until stop(); meant to be the body of its own thread.
  void run();
  // Ends run() soon: wakes a backoff sleep. An in-flight request ends with the transport's
  // cancel() (the agent cancels the transport it shares between informers).
  void stop();

  Resource resource() const { return resource_; }
  const InformerStats& stats() const { return stats_; }
  std::string resource_version() const;

 private:
  Status list();
  Status list_pages(bool& expired);
  Status watch();
  Status handle_line(std::string_view line, bool& keep_going);
  void backoff();
  bool stopped() const { return stop_; }

  Transport& transport_;
  const Resource resource_;
  EventSink& sink_;
  const InformerOptions options_;
  InformerStats stats_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;  // guards rv_ (read by resource_version()) and the backoff sleep
  std::condition_variable wake_;
  std::string rv_;
  std::chrono::milliseconds next_backoff_;
  std::mt19937_64 rng_;
};

// Splits a byte stream into lines ('\n'), keeping at most `max` bytes of a partial line.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max) : max_(max) {}
  // Calls on_line for each complete line (without the newline). False: a line exceeded the
  // bound, or on_line returned false.
  template <class F>
  bool feed(std::string_view data, F&& on_line) {
    while (!data.empty()) {
      const auto nl = data.find('\n');
      const auto part = data.substr(0, nl);
      if (partial_.size() + part.size() > max_) return false;
      if (nl == std::string_view::npos) {
        partial_.append(part);
        return true;
      }
      bool go = true;
      if (partial_.empty()) {
        go = on_line(part);
      } else {
        partial_.append(part);
        go = on_line(std::string_view(partial_));
        partial_.clear();
        if (partial_.capacity() > (1u << 20)) partial_.shrink_to_fit();  // after a huge line
      }
      if (!go) return false;
      data.remove_prefix(nl + 1);
    }
    return true;
  }

 private:
  std::size_t max_;
  std::string partial_;
};

}  // namespace watch
