// Figures of the latency bench: samples with percentiles, and a table of
// figure / value / target / verdict ("met", or "missed by ×k") with free-text notes between
// rows, printed section by section like the other benches.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace bench {

class Samples {
 public:
  void add(double v) { v_.push_back(v); }
  bool empty() const { return v_.empty(); }
  std::size_t size() const { return v_.size(); }
  // Nearest rank: p(0.5) is the median, p(0.99) of 100 samples the 99th smallest.
  double p(double q) const;

 private:
  std::vector<double> v_;
};

class Report {
 public:
  void section(const std::string& title);
  // `ratio` = value / target (a figure must be at most its target); none: no target.
  void row(const std::string& figure, const std::string& value, const std::string& target,
           std::optional<double> ratio);
  void note(const std::string& text);
  // Prints what was added since the last print.
  void print(std::FILE* out = stdout);

 private:
  struct Line {
    bool is_row = false;
    std::string figure, value, target, verdict;  // a note or a title: figure only
  };
  std::vector<Line> lines_;
  std::size_t printed_ = 0;
};

}  // namespace bench
