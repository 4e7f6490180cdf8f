// The agent with manifests on disk as its source (no API server): every change of the files
// is loaded, compiled and applied; a file that cannot be parsed leaves the rules in place.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "agent/enforcer.h"
#include "agent/http_endpoints.h"

namespace agent {

struct StaticModeOptions {
  std::vector<std::string> manifests;
  bool once = false;
  std::chrono::seconds resync{300};
};

// Exit code: with `once`, 0 when enforced and 1 otherwise; else 0 when stopped.
int run_static_mode(Enforcer& enforcer, const StaticModeOptions& options,
                    const std::atomic<bool>& stop, spdlog::logger& log, Health& health);

}  // namespace agent
