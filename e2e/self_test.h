#pragma once

#include "cluster.h"
#include "conformance_case.h"
#include "runner.h"

namespace e2e {

// Installs a hand-written drop rule in node n2 and checks that the prober reports exactly the
// pairs it drops, then removes it and checks that every pair connects. Returns an exit code.
int run_self_test(Cluster& cluster, Runner& runner, const cases::Case& model);

}  // namespace e2e
