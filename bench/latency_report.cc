#include "latency_report.h"

#include <algorithm>
#include <cmath>

namespace bench {

double Samples::p(double q) const {
  if (v_.empty()) return 0;
  std::vector<double> s = v_;
  std::sort(s.begin(), s.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(s.size())));
  return s[std::clamp<std::size_t>(rank, 1, s.size()) - 1];
}

void Report::section(const std::string& title) {
  lines_.push_back({.figure = "\n== " + title});
}

void Report::row(const std::string& figure, const std::string& value, const std::string& target,
                 std::optional<double> ratio) {
  std::string verdict;
  if (ratio) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "missed by x%.1f", *ratio);
    verdict = *ratio <= 1.0 ? "met" : buf;
  }
  lines_.push_back({true, figure, value, target, verdict});
}

void Report::note(const std::string& text) {
  lines_.push_back({.figure = text});
}

void Report::print(std::FILE* out) {
  std::size_t w1 = 6, w2 = 5, w3 = 6;
  for (std::size_t i = printed_; i < lines_.size(); ++i) {
    if (!lines_[i].is_row) continue;
    w1 = std::max(w1, lines_[i].figure.size());
    w2 = std::max(w2, lines_[i].value.size());
    w3 = std::max(w3, lines_[i].target.size());
  }
  bool header = false;
  for (; printed_ < lines_.size(); ++printed_) {
    const auto& l = lines_[printed_];
    if (!l.is_row) {
      std::fprintf(out, "%s\n", l.figure.c_str());
      continue;
    }
    if (!header) {
      std::fprintf(out, "  %-*s  %-*s  %-*s  %s\n", static_cast<int>(w1), "figure",
                   static_cast<int>(w2), "value", static_cast<int>(w3), "target", "verdict");
      header = true;
    }
    std::fprintf(out, "  %-*s  %-*s  %-*s  %s\n", static_cast<int>(w1), l.figure.c_str(),
                 static_cast<int>(w2), l.value.c_str(), static_cast<int>(w3), l.target.c_str(),
                 l.verdict.c_str());
  }
  std::fflush(out);
}

}  // namespace bench
