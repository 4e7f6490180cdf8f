// Verdicts in words (for people) and as JSON (for programs).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "policy/evaluator.h"

namespace policy {

// Multi-line explanation: the verdict, then each side (egress of the source, ingress of the
// destination) with the policies that isolate it and how each of their rules judged the flow.
std::string explain_text(const Cluster& cluster, const Flow& flow, const Verdict& v);
nlohmann::json verdict_json(const Cluster& cluster, const Flow& flow, const Verdict& v);

}  // namespace policy
