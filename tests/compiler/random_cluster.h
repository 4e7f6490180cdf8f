// Random small clusters and policies of every shape networking.k8s.io/v1 allows, for the
// property tests: selectors with matchLabels and every matchExpressions operator, peers of
// each kind, ipBlocks with except over pod addresses (IPv4 and IPv6), numeric, named and
// ranged ports, every protocol, policyTypes combinations; pods that are dual-stack,
// hostNetwork, finished or without an address.
#pragma once

#include <cstdint>
#include <random>

#include "policy/cluster.h"

namespace compiler_test {

// Node addresses: hostNetwork pods on node nN use 192.168.77.N.
policy::Cluster random_cluster(std::uint64_t seed);

}  // namespace compiler_test
