// The Prometheus registry: the text exposition format, as scrapers parse it.
#include "agent/metrics.h"

#include <gtest/gtest.h>

#include "agent/http_endpoints.h"

namespace agent {
namespace {

TEST(Metrics, RendersEveryKindInTheTextFormat) {
  Registry r;
  r.counter("a_total", "A counter.").inc(3);
  r.gauge("b", "A gauge.").set(1.5);
  auto& h = r.histogram("c_seconds", "A histogram.", {0.005, 0.1});
  h.observe(0.001);
  h.observe(0.05);
  h.observe(7);
  auto& l = r.labeled_counter("d_total", "Labelled.", "kind");
  l.inc("x\"y");
  r.sampled("e", "Sampled.", "gauge", "resource", [] {
    return std::vector<std::pair<std::string, double>>{{"pods", 42}};
  });
  EXPECT_EQ(r.render(),
            "# HELP a_total A counter.\n# TYPE a_total counter\na_total 3\n"
            "# HELP b A gauge.\n# TYPE b gauge\nb 1.5\n"
            "# HELP c_seconds A histogram.\n# TYPE c_seconds histogram\n"
            "c_seconds_bucket{le=\"0.005\"} 1\nc_seconds_bucket{le=\"0.1\"} 2\n"
            "c_seconds_bucket{le=\"+Inf\"} 3\nc_seconds_sum 7.051\nc_seconds_count 3\n"
            "# HELP d_total Labelled.\n# TYPE d_total counter\nd_total{kind=\"x\\\"y\"} 1\n"
            "# HELP e Sampled.\n# TYPE e gauge\ne{resource=\"pods\"} 42\n");
}

TEST(Metrics, ListenAddresses) {
  EXPECT_EQ(listen_url(":9745"), "http://0.0.0.0:9745");
  EXPECT_EQ(listen_url("127.0.0.1:1"), "http://127.0.0.1:1");
  EXPECT_EQ(listen_url("9745"), "");
  EXPECT_EQ(listen_url("host:port"), "");
}

}  // namespace
}  // namespace agent
