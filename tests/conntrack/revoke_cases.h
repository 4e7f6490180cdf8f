// The cluster and the entries the revoker is tested on, with the verdict the changed
// program must give each: shared by the fake-table tests and the kernel tests.
#pragma once

#include <string>
#include <vector>

#include "conntrack/entry.h"
#include "conntrack/revoker.h"

namespace conntrack_test {

// n1: web (dual-stack), api (dual-stack), job; n2: db, client. The node's address is
// 192.168.0.1 (and fd00:ffff::1).
extern const std::string kPods;
// api admits web on TCP 8080, UDP 53 and SCTP 9000; job may only reach db on 5432.
extern const std::string kPolicies;
extern const conntrack::NodeAddresses kNode;

struct Case {
  const char* what;
  conntrack::Entry entry;
  bool denied;  // by the program of kPods + kPolicies on n1
};

std::vector<Case> cases();
// An echo request (id 77).
conntrack::Entry icmp(const char* src, const char* dst);
std::size_t denied_cases();

}  // namespace conntrack_test
