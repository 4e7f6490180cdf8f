#include "agent/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <string_view>
#include <vector>

namespace agent {
namespace {

void append_json_string(std::string_view text, spdlog::memory_buf_t& dest) {
  static const char* hex = "0123456789abcdef";
  dest.push_back('"');
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      dest.push_back('\\');
      dest.push_back(c);
    } else if (u < 0x20) {
      const char esc[] = {'\\', 'u', '0', '0', hex[u >> 4], hex[u & 15]};
      dest.append(esc, esc + sizeof esc);
    } else {
      dest.push_back(c);
    }
  }
  dest.push_back('"');
}

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// The key=value fields at the end of a message (`sync node=n1 ops=3 error="x y"`): the
// position where they start, and the fields; npos when the message does not end in them.
struct Fields {
  std::size_t start = std::string_view::npos;
  std::vector<std::pair<std::string_view, std::string_view>> kv;
};

Fields trailing_fields(std::string_view m) {
  Fields f;
  // Scan tokens from the front of the first `key=`: every following token must be key=value.
  for (std::size_t pos = 0; pos < m.size();) {
    std::size_t k = pos;
    while (k < m.size() && is_key_char(m[k])) ++k;
    if (k > pos && k < m.size() && m[k] == '=' && (pos == 0 || m[pos - 1] == ' ')) {
      if (f.start == std::string_view::npos) f.start = pos;
      std::size_t v = k + 1, end = v;
      if (v < m.size() && m[v] == '"') {
        end = m.find('"', v + 1);
        if (end == std::string_view::npos) return {};
        f.kv.emplace_back(m.substr(pos, k - pos), m.substr(v + 1, end - v - 1));
        ++end;
      } else {
        while (end < m.size() && m[end] != ' ') ++end;
        f.kv.emplace_back(m.substr(pos, k - pos), m.substr(v, end - v));
      }
      if (end < m.size() && m[end] != ' ') return {};
      pos = end + 1;
      continue;
    }
    if (f.start != std::string_view::npos) return {};  // free text after the fields
    const auto space = m.find(' ', pos);
    pos = space == std::string_view::npos ? m.size() : space + 1;
  }
  return f;
}

bool is_number(std::string_view v) {
  if (v.empty() || v.size() > 20) return false;
  std::size_t i = v[0] == '-' ? 1 : 0;
  bool digits = false, dot = false;
  for (; i < v.size(); ++i) {
    if (v[i] >= '0' && v[i] <= '9') {
      digits = true;
    } else if (v[i] == '.' && !dot) {
      dot = true;
    } else {
      return false;
    }
  }
  return digits && v.back() != '.';
}

// %* : `"msg":"…"` and, when the message ends in key=value fields, each as a JSON member
// (numbers and booleans unquoted), so that log pipelines need no parsing of their own.
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string_view m(msg.payload.data(), msg.payload.size());
    const Fields f = trailing_fields(m);
    std::string_view text = f.start == std::string_view::npos ? m : m.substr(0, f.start);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    const std::string_view msg_key = "\"msg\":";
    dest.append(msg_key.data(), msg_key.data() + msg_key.size());
    append_json_string(text, dest);
    for (const auto& [k, v] : f.kv) {
      if (k == "msg" || k == "time" || k == "level" || k == "logger") continue;
      dest.push_back(',');
      append_json_string(k, dest);
      dest.push_back(':');
      if (is_number(v) || v == "true" || v == "false") {
        dest.append(v.data(), v.data() + v.size());
      } else {
        append_json_string(v, dest);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessage>();
  }
};

}  // namespace

void setup_logging(const std::string& format, const std::string& level, int verbosity) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  if (format == "json") {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<JsonMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n",%*})");
    sink->set_formatter(std::move(f));
  } else {
    sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %n: %v");
  }
  auto lvl = spdlog::level::from_str(level);
  if (verbosity >= 2) lvl = std::min(lvl, spdlog::level::trace);
  if (verbosity == 1) lvl = std::min(lvl, spdlog::level::debug);
  for (const char* name : {"agent", "watch", "conntrack"}) {
    spdlog::drop(name);
    auto logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_level(lvl);
    spdlog::register_logger(logger);
  }
  spdlog::set_default_logger(spdlog::get("agent"));
}

}  // namespace agent
