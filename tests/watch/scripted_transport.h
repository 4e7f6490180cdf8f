// A Transport that answers from a script, for informer tests: each GET or WATCH takes the
// next scripted answer of its kind and records the target it was asked for.
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "watch/transport.h"

namespace watch::testing {

struct Scripted {
  // For get(): the response or an error. For stream(): `chunks` are handed to on_data one by
  // one, then the response (status 200: a clean end) or the error is returned.
  std::optional<Error> error;
  HttpResponse response{200, ""};
  std::vector<std::string> chunks;
};

class ScriptedTransport final : public Transport {
 public:
  void add_get(Scripted s) { gets_.push_back(std::move(s)); }
  void add_stream(Scripted s) { streams_.push_back(std::move(s)); }

  Result<HttpResponse> get(const std::string& target) override {
    std::lock_guard lock(mu_);
    targets.push_back("GET " + target);
    return answer(gets_, target);
  }
  Result<HttpResponse> stream(const std::string& target,
                              const std::function<bool(std::string_view)>& on_data) override {
    std::unique_lock lock(mu_);
    targets.push_back("WATCH " + target);
    if (streams_.empty()) {
      // Out of script: end the run (the informer stops on cancelled).
      exhausted = true;
      return make_error(Errc::cancelled, "script exhausted");
    }
    Scripted s = std::move(streams_.front());
    streams_.pop_front();
    lock.unlock();
    for (const auto& c : s.chunks) {
      if (!on_data(c)) break;
    }
    if (s.error) return *s.error;
    return s.response;
  }
  void cancel() override {}

  std::vector<std::string> targets;
  bool exhausted = false;

 private:
  Result<HttpResponse> answer(std::deque<Scripted>& q, const std::string& target) {
    if (q.empty()) {
      exhausted = true;
      return make_error(Errc::cancelled, "script exhausted at " + target);
    }
    Scripted s = std::move(q.front());
    q.pop_front();
    if (s.error) return *s.error;
    return s.response;
  }
  std::mutex mu_;
  std::deque<Scripted> gets_;
  std::deque<Scripted> streams_;
};

}  // namespace watch::testing
