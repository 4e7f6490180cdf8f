// A small Prometheus registry: counters, gauges, histograms and labelled counters, rendered
// in the text exposition format (version 0.0.4). Thread-safe: the sync loop, the informers
// and the HTTP endpoint use it at once. Metric objects live as long as the registry and keep
// their address.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace agent {

class Counter {
 public:
  void inc(std::uint64_t n = 1) { v_ += n; }
  std::uint64_t value() const { return v_; }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_ = v; }
  double value() const { return v_; }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Cumulative counts per bound (+Inf last), sum and count, read consistently.
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket, +Inf last
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// A counter family with one label ("kind", "result"): one series per label value seen.
class LabeledCounter {
 public:
  void inc(const std::string& label_value, std::uint64_t n = 1);
  std::map<std::string, std::uint64_t> values() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> v_;
};

class Registry {
 public:
  Counter& counter(const std::string& name, const std::string& help);
  Gauge& gauge(const std::string& name, const std::string& help);
  Histogram& histogram(const std::string& name, const std::string& help,
                       std::vector<double> bounds);
  LabeledCounter& labeled_counter(const std::string& name, const std::string& help,
                                  const std::string& label);
  // Values owned elsewhere (informer statistics): `sample` is called at every render and
  // returns (label value, value) pairs of one counter family with one label.
  using Sampler = std::function<std::vector<std::pair<std::string, double>>()>;
  void sampled(const std::string& name, const std::string& help, const std::string& type,
               const std::string& label, Sampler sample);

  std::string render() const;

 private:
  struct Family {
    std::string name, help, type, label;
    Counter* counter = nullptr;
    Gauge* gauge = nullptr;
    Histogram* histogram = nullptr;
    LabeledCounter* labeled = nullptr;
    Sampler sampler;
  };
  mutable std::mutex mu_;
  std::vector<Family> families_;
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<std::unique_ptr<Histogram>> histograms_;
  std::deque<LabeledCounter> labeled_;
};

// Escapes a label value for the text format.
std::string escape_label(const std::string& v);

}  // namespace agent
