// The agent's loggers: spdlog to stderr, as text or as one JSON object per line.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace agent {

// `format` is "text" or "json"; `verbosity` 0 = info, 1 = debug, 2+ = trace (overrides
// `level` when higher). Registers the named loggers "agent", "watch" and "conntrack".
void setup_logging(const std::string& format, const std::string& level, int verbosity);

}  // namespace agent
