// Helpers shared by the conntrack tests: clusters from YAML compiled for one node, entries
// written tersely, and running code inside a test network namespace.
#pragma once

#include <functional>
#include <string>

#include "compiler/compiler.h"
#include "conntrack/entry.h"
#include "conntrack/revoker.h"
#include "nft/program.h"

namespace conntrack_test {

common::IpAddr ip(const char* text);

// A pod of namespace `ns` on `node` with labels "k: v, …" and one or more addresses
// ("10.0.0.1" or "10.0.0.1,fd00::1"), as a YAML document.
std::string pod(const std::string& ns, const std::string& name, const std::string& node,
                const std::string& ips, const std::string& labels);
// A NetworkPolicy document with `spec` (YAML flow mapping content).
std::string policy(const std::string& ns, const std::string& name, const std::string& spec);
// The program of `node` for the documents in `yaml`.
nft::Program compile(const std::string& yaml, const std::string& node,
                     compiler::Options options = {});

// A connection without NAT, established: "tcp", "10.0.0.1", 40000, "10.0.0.2", 80.
conntrack::Entry flow(std::uint8_t l4proto, const char* src, std::uint16_t sport, const char* dst,
                      std::uint16_t dport);
// The same connection DNATed to `to`:`to_port` (a ClusterIP reached its endpoint).
conntrack::Entry dnat(conntrack::Entry e, const char* to, std::uint16_t to_port);

// Runs `body` on a thread that has entered the network namespace `netns` (by name, as
// `ip netns` knows it); false if it could not enter (body not run).
bool in_netns(const std::string& netns, const std::function<void()>& body);

}  // namespace conntrack_test
