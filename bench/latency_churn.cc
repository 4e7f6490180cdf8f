#include "latency_churn.h"

#include <nlohmann/json.hpp>

#include "latency_cluster.h"
#include "latency_http.h"
#include "synthetic_cluster.h"

namespace bench {
namespace {

std::string pod_path(const policy::Pod& p) {
  return "/api/v1/namespaces/" + p.namespace_ + "/pods/" + p.name;
}

std::string patch(const policy::Pod& p, const std::string& sub, const nlohmann::json& body) {
  return HttpConnection::format("PATCH", pod_path(p) + sub, body.dump(),
                                "application/merge-patch+json");
}

std::string relabel(const policy::Pod& p, const std::string& app) {
  return patch(p, "", {{"metadata", {{"labels", {{"app", app}}}}}});
}

std::string remove(const policy::Pod& p) {
  return HttpConnection::format("DELETE", pod_path(p) + "?gracePeriodSeconds=0", "");
}

}  // namespace

PodChurn::PodChurn(const policy::Cluster& cluster, const std::string& node, int first_index)
    : next_(first_index) {
  for (const auto& p : cluster.pods) {
    if (p.node != node) others_.push_back(&p);
  }
  for (const auto& [name, ns] : cluster.namespaces) namespaces_ += name.rfind("ns-", 0) == 0;
}

std::string PodChurn::next_write(int seq) {
  const int roll = static_cast<int>(rnd_() % 100);
  const policy::Pod& r = *others_[rnd_() % others_.size()];
  if (roll < 35) {
    ++mix_["status"];
    const nlohmann::json ready = {{"type", "Ready"}, {"status", seq % 2 ? "True" : "False"}};
    return patch(r, "/status", {{"status", {{"conditions", {ready}}}}});
  }
  if (roll < 45) {
    ++mix_["annotation"];
    return patch(r, "", {{"metadata", {{"annotations", {{"bench/seq", std::to_string(seq)}}}}}});
  }
  if (roll < 60) {
    ++mix_["relabel"];
    relabelled_.try_emplace(r.key(), &r, r.labels.at("app"));
    return relabel(r, "app-" + std::to_string(rnd_() % 5));
  }
  if (roll < 80 || added_.empty()) {
    ++mix_["add"];
    auto p = synthetic_pod(next_, std::max(1, namespaces_), rnd_);
    p.name = "churn-" + std::to_string(next_++);
    p.node = r.node;
    added_.push_back(p);
    return store_raw_request("pods", pod_json(p));
  }
  ++mix_["delete"];
  const std::size_t i = rnd_() % added_.size();
  std::string req = remove(added_[i]);
  added_.erase(added_.begin() + static_cast<std::ptrdiff_t>(i));
  return req;
}

std::vector<std::string> PodChurn::undo() {
  std::vector<std::string> reqs;
  for (const auto& p : added_) reqs.push_back(remove(p));
  for (const auto& [key, first] : relabelled_) reqs.push_back(relabel(*first.first, first.second));
  added_.clear();
  relabelled_.clear();
  return reqs;
}

}  // namespace bench
