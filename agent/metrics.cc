#include "agent/metrics.h"

#include <charconv>
#include <cmath>

namespace agent {
namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  // The shortest text that reads back as the same double: le="0.005", not 0.0050000000000000001.
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  std::lock_guard lock(mu_);
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard lock(mu_);
  Snapshot s{bounds_, {}, sum_, count_};
  std::uint64_t acc = 0;
  for (auto c : counts_) s.cumulative.push_back(acc += c);
  return s;
}

void LabeledCounter::inc(const std::string& label_value, std::uint64_t n) {
  std::lock_guard lock(mu_);
  v_[label_value] += n;
}

std::map<std::string, std::uint64_t> LabeledCounter::values() const {
  std::lock_guard lock(mu_);
  return v_;
}

Counter& Registry::counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  auto& c = counters_.emplace_back();
  families_.push_back({.name = name, .help = help, .type = "counter", .counter = &c});
  return c;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  auto& g = gauges_.emplace_back();
  families_.push_back({.name = name, .help = help, .type = "gauge", .gauge = &g});
  return g;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  auto& h = histograms_.emplace_back(std::make_unique<Histogram>(std::move(bounds)));
  families_.push_back({.name = name, .help = help, .type = "histogram", .histogram = h.get()});
  return *h;
}

LabeledCounter& Registry::labeled_counter(const std::string& name, const std::string& help,
                                          const std::string& label) {
  std::lock_guard lock(mu_);
  auto& c = labeled_.emplace_back();
  families_.push_back(
      {.name = name, .help = help, .type = "counter", .label = label, .labeled = &c});
  return c;
}

void Registry::sampled(const std::string& name, const std::string& help, const std::string& type,
                       const std::string& label, Sampler sample) {
  std::lock_guard lock(mu_);
  families_.push_back(
      {.name = name, .help = help, .type = type, .label = label, .sampler = std::move(sample)});
}

std::string Registry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
    if (f.counter) out += f.name + " " + std::to_string(f.counter->value()) + "\n";
    if (f.gauge) out += f.name + " " + number(f.gauge->value()) + "\n";
    if (f.labeled) {
      for (const auto& [k, v] : f.labeled->values()) {
        out += f.name + "{" + f.label + "=\"" + escape_label(k) + "\"} " + std::to_string(v) + "\n";
      }
    }
    if (f.sampler) {
      for (const auto& [k, v] : f.sampler()) {
        out += f.name + "{" + f.label + "=\"" + escape_label(k) + "\"} " + number(v) + "\n";
      }
    }
    if (f.histogram) {
      const auto s = f.histogram->snapshot();
      for (std::size_t i = 0; i < s.cumulative.size(); ++i) {
        const std::string le = i < s.bounds.size() ? number(s.bounds[i]) : "+Inf";
        out += f.name + "_bucket{le=\"" + le + "\"} " + std::to_string(s.cumulative[i]) + "\n";
      }
      out += f.name + "_sum " + number(s.sum) + "\n";
      out += f.name + "_count " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

}  // namespace agent
