// Warnings about valid policies that probably do not do what their author meant.
#pragma once

#include <vector>

#include "policy/evaluator.h"
#include "policy/loader.h"

namespace policy {

// - a policy that selects no pod;
// - a peer selector that matches no pod (or no namespace);
// - a named port that no pod it could resolve on declares;
// - egress isolation that blocks DNS (UDP/TCP 53) for selected pods;
// - a policy made redundant by another one in the same namespace.
std::vector<Diagnostic> lint(const Evaluator& evaluator);

}  // namespace policy
