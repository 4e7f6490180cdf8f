#include "watch/informer.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace watch {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> logger() {
  static auto log = [] {
    auto l = spdlog::get("watch");
    return l ? l : spdlog::default_logger();
  }();
  return log;
}

// Percent-encoding for query values (continue tokens are base64 with '=' and '/').
std::string escape(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', hex[c >> 4], hex[c & 15]};
    }
  }
  return out;
}

// The message of a Status body, or the body itself.
std::string status_message(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    return j["message"].get<std::string>();
  }
  return body.substr(0, 200);
}

Error http_error(int status, const std::string& body) {
  const Errc code = status == 410   ? Errc::expired
                    : status == 401 ? Errc::unauthorized
                    : status == 403 ? Errc::forbidden
                                    : Errc::http;
  return make_error(code, status_message(body), status);
}

// What an operator can do about an error.
std::string hint(const Error& e) {
  if (e.code == Errc::forbidden) {
    return " (RBAC: the agent's service account needs list and watch on pods, namespaces and "
           "networking.k8s.io networkpolicies; see deploy/clusterrole.yaml)";
  }
  if (e.code == Errc::unauthorized) return " (the token or client certificate was refused)";
  return "";
}

const std::string* resource_version_of(const json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return nullptr;
  const auto rv = meta->find("resourceVersion");
  if (rv == meta->end() || !rv->is_string()) return nullptr;
  return rv->get_ptr<const std::string*>();
}

}  // namespace

const char* to_string(Resource r) {
  switch (r) {
    case Resource::namespaces:
      return "namespaces";
    case Resource::pods:
      return "pods";
    case Resource::networkpolicies:
      return "networkpolicies";
  }
  return "?";
}

const char* collection_path(Resource r) {
  switch (r) {
    case Resource::namespaces:
      return "/api/v1/namespaces";
    case Resource::pods:
      return "/api/v1/pods";
    case Resource::networkpolicies:
      return "/apis/networking.k8s.io/v1/networkpolicies";
  }
  return "/";
}

Informer::Informer(Transport& transport, Resource resource, EventSink& sink,
                   InformerOptions options)
    : transport_(transport),
      resource_(resource),
      sink_(sink),
      options_(options),
      next_backoff_(options.backoff_initial),
      rng_(options.seed ? options.seed : std::random_device{}()) {}

std::string Informer::resource_version() const {
  std::lock_guard lock(mu_);
  return rv_;
}

void Informer::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
}

void Informer::backoff() {
  // "Equal jitter": half the delay fixed, half random; the delay doubles up to the maximum.
  const auto d = next_backoff_;
  std::uniform_int_distribution<long> half(0, std::max<long>(1, d.count() / 2));
  const auto sleep = std::chrono::milliseconds(d.count() / 2 + half(rng_));
  next_backoff_ = std::min(options_.backoff_max, d * 2);
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, sleep, [&] { return stop_.load(); });
}

void Informer::run() {
  bool need_list = true;
  while (!stopped()) {
    if (need_list) {
      if (auto st = list(); !st) {
        if (st.error().code == Errc::cancelled || stopped()) return;
        ++stats_.errors;
        logger()->warn("list {} failed: {}; retrying", to_string(resource_),
                       st.error().to_string());
        backoff();
        continue;
      }
      need_list = false;
    }
    const auto started = Clock::now();
    const auto events_before = stats_.events + stats_.bookmarks;
    auto st = watch();
    if (stopped()) return;
    const bool healthy = stats_.events + stats_.bookmarks > events_before ||
                         Clock::now() - started > std::chrono::seconds(10);
    if (healthy) next_backoff_ = options_.backoff_initial;
    if (st) continue;  // the server ended the watch: resume from the last resourceVersion
    if (st.error().code == Errc::cancelled) return;
    if (st.error().code == Errc::expired) {
      logger()->info("watch {}: {}; relisting", to_string(resource_), st.error().message);
      ++stats_.relists;
      need_list = true;
      if (!healthy) backoff();  // a server answering 410 at once must not make us spin
      continue;
    }
    ++stats_.errors;
    logger()->warn("watch {} from resourceVersion {} failed: {}; resuming{}", to_string(resource_),
                   resource_version(), st.error().to_string(), hint(st.error()));
    backoff();
  }
}

Status Informer::list() {
  // An expired continue token (the list took longer than the server's window) restarts the
  // list from the beginning, once; a second expiry is an error for the caller's backoff.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool expired = false;
    sink_.begin_list(resource_);
    auto st = list_pages(expired);
    if (st) {
      sink_.end_list(resource_, true, resource_version());
      ++stats_.lists;
      stats_.synced = true;
      return st;
    }
    sink_.end_list(resource_, false, "");
    if (!expired) return st;
  }
  return make_error(Errc::expired, "the list expired twice while paging");
}

Status Informer::list_pages(bool& expired) {
  std::string cont;
  std::size_t items = 0;
  const auto t0 = Clock::now();
  do {
    std::string target =
        std::string(collection_path(resource_)) + "?limit=" + std::to_string(options_.page_size);
    if (!cont.empty()) target += "&continue=" + escape(cont);
    auto resp = transport_.get(target);
    if (!resp) return resp.error();
    if (resp.value().status != 200) {
      expired = resp.value().status == 410;
      return http_error(resp.value().status, resp.value().body);
    }
    ++stats_.list_pages;
    auto doc = json::parse(resp.value().body, nullptr, false);
    const auto meta = doc.is_object() ? doc.find("metadata") : doc.end();
    const auto list = doc.is_object() ? doc.find("items") : doc.end();
    const std::string* rv = doc.is_object() ? resource_version_of(doc) : nullptr;
    if (!rv || list == doc.end() || !(list->is_array() || list->is_null())) {
      ++stats_.decode_errors;
      return make_error(Errc::decode, std::string("LIST ") + to_string(resource_) +
                                          ": not a list with metadata.resourceVersion");
    }
    if (list->is_array()) {
      for (const auto& item : *list) sink_.listed(resource_, item);
      items += list->size();
    }
    {
      std::lock_guard lock(mu_);
      rv_ = *rv;
    }
    const auto c = meta->find("continue");
    cont = c != meta->end() && c->is_string() ? c->get<std::string>() : "";
  } while (!cont.empty() && !stopped());
  if (stopped()) return make_error(Errc::cancelled, "stopped");
  logger()->info("listed {} {} at resourceVersion {} in {} ms", items, to_string(resource_),
                 resource_version(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
  return Status::ok();
}

Status Informer::watch() {
  std::uniform_int_distribution<long> stretch(0, options_.watch_timeout.count());
  const long timeout = options_.watch_timeout.count() + stretch(rng_);
  const std::string target =
      std::string(collection_path(resource_)) +
      "?watch=1&allowWatchBookmarks=true&resourceVersion=" + escape(resource_version()) +
      "&timeoutSeconds=" + std::to_string(timeout);
  ++stats_.watches;
  logger()->debug("watch {} from resourceVersion {}", to_string(resource_), resource_version());
  LineSplitter lines(options_.max_line_bytes);
  Status failure = Status::ok();
  auto resp = transport_.stream(target, [&](std::string_view data) {
    if (stopped()) return false;
    const bool more = lines.feed(data, [&](std::string_view line) {
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) return true;
      bool keep_going = true;
      if (auto st = handle_line(line, keep_going); !st) failure = st;
      return keep_going;
    });
    if (!more && failure.is_ok()) {
      ++stats_.decode_errors;
      failure = make_error(Errc::decode, "a watch event exceeds " +
                                             std::to_string(options_.max_line_bytes) + " bytes");
    }
    return more;
  });
  if (!resp) return resp.error();
  if (!failure) return failure;
  if (resp.value().status != 200) return http_error(resp.value().status, resp.value().body);
  return Status::ok();
}

Status Informer::handle_line(std::string_view line, bool& keep_going) {
  auto ev = json::parse(line, nullptr, false);
  const auto type = ev.is_object() ? ev.find("type") : ev.end();
  const auto object = ev.is_object() ? ev.find("object") : ev.end();
  keep_going = false;
  if (type == ev.end() || !type->is_string() || object == ev.end() || !object->is_object()) {
    ++stats_.decode_errors;
    return make_error(Errc::decode,
                      "a watch event is not {type, object}: " + std::string(line.substr(0, 120)));
  }
  const auto& t = type->get_ref<const std::string&>();
  if (t == "ERROR") {
    const int code = object->value("code", 0);
    return http_error(code, object->dump());
  }
  const std::string* rv = resource_version_of(*object);
  if (t == "BOOKMARK") {
    ++stats_.bookmarks;
  } else if (t == "ADDED" || t == "MODIFIED" || t == "DELETED") {
    ++stats_.events;
    if (logger()->should_log(spdlog::level::trace)) {
      logger()->trace("{} {} {} resourceVersion {}", t, to_string(resource_),
                      object->contains("metadata") ? (*object)["metadata"].value("name", "?") : "?",
                      rv ? *rv : "?");
    }
    sink_.event(resource_, t == "DELETED" ? EventType::remove : EventType::upsert, *object);
  } else {
    ++stats_.decode_errors;
    return make_error(Errc::decode, "unknown watch event type " + t);
  }
  if (rv && !rv->empty()) {
    {
      std::lock_guard lock(mu_);
      rv_ = *rv;
    }
    sink_.progress(resource_, *rv);
  }
  keep_going = true;
  return Status::ok();
}

}  // namespace watch
