// compile(): the nftables program one node needs to enforce the cluster's NetworkPolicies.
//
// A pure function: no I/O, no clocks, no globals; the same cluster and options always give
// the same Program (names of objects are derived from their meaning, not from counters, so
// an unrelated change elsewhere in the cluster does not rename anything and diffs stay small).
// The shape is described in README.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "nft/program.h"
#include "policy/cluster.h"

namespace compiler {

// Names of the fixed objects of the program.
inline constexpr const char* kForwardChain = "forward";
inline constexpr const char* kInputChain = "input";
inline constexpr const char* kOutputChain = "output";
inline constexpr const char* kIngressV4 = "ingress-v4";
inline constexpr const char* kIngressV6 = "ingress-v6";
inline constexpr const char* kEgressV4 = "egress-v4";
inline constexpr const char* kEgressV6 = "egress-v6";
// Addresses of this node's pods isolated in any direction (the mid-stream guard's sets).
inline constexpr const char* kIsolatedV4 = "isolated-v4";
inline constexpr const char* kIsolatedV6 = "isolated-v6";

// The conntrack mark bit of connections revoked by quarantine (Options::quarantine_mark).
inline constexpr std::uint32_t kDefaultQuarantineMark = 0x00800000;
inline constexpr const char* kQuarantineComment = "revoked connection";

struct Options {
  std::string table{nft::kDefaultTable};
  // Connections the node itself opens to its pods (kubelet probes) pass without ingress
  // checks. When false, the node is judged like any other source outside the cluster.
  bool allow_node_traffic = true;
  // The mid-stream guard: drop `ct state new` TCP packets that are not a bare SYN when their
  // source or destination is a pod of this node isolated in any direction. With
  // nf_conntrack_tcp_loose=1 (the kernel default) the next packet of a TCP connection whose
  // entry was deleted (conntrack/ revokes denied connections) creates a NEW entry in
  // whichever direction speaks first; if the server pushes, that entry runs server->client,
  // the policy may allow it, and the client's packets then pass as its replies. The guard
  // makes a deleted connection stay dead; see README.md.
  bool midstream_guard = true;
  // The quarantine: a conntrack mark bit (0: none). First in every base chain, before the
  // established rule, `ct mark & BIT == BIT counter drop`. conntrack/ marks the entries of
  // denied connections of protocols other than TCP with it instead of deleting them: deleted,
  // a UDP flow whose answer is in flight comes back as a new entry server -> client that the
  // policy may allow, and the client's datagrams then pass as its replies (the mid-stream
  // guard covers TCP only). A marked entry keeps matching both directions and is dropped
  // until it times out (not while packets keep coming) or a later change allows the flow
  // again. It is the ct mark, not the packet mark (kube-proxy's 0x4000/0x8000, flannel's):
  // choose a bit no other component sets on conntrack entries. See README.md.
  std::uint32_t quarantine_mark = kDefaultQuarantineMark;
  // A counter on every drop rule, for metrics and `nft list` debugging.
  bool counters = true;
  int priority = 0;  // NF_IP_PRI_FILTER
};

struct CompileStats {
  std::size_t node_pods = 0;         // pods of the node with an address
  std::size_t isolated_ingress = 0;  // of those, isolated for ingress
  std::size_t isolated_egress = 0;
  std::size_t chains = 0;
  std::size_t rules = 0;
  std::size_t sets = 0;  // sets and maps
  std::size_t elements = 0;
};

// What the pods-* sets of a program stand for, so that a change of pods elsewhere in the
// cluster can be applied as element changes without compiling again (incremental.h).
struct PeerSetRecipe {
  policy::Peer peer;             // its pod and namespace selectors
  std::string policy_namespace;  // the namespace a podSelector alone selects in
  common::Family family = common::Family::kV4;
  bool operator==(const PeerSetRecipe&) const = default;
};

struct Recipes {
  std::map<std::string, PeerSetRecipe> peer_sets;  // by set name
  // Egress rules with named ports exist: their rules and named-* sets depend on the named
  // ports of the destination pods, anywhere in the cluster.
  bool named_egress_ports = false;
  std::set<common::Family> families;  // address families of the cluster: one rule per family
};

struct Compiled {
  nft::Program program;
  CompileStats stats;
  Recipes recipes;
};

// The program for the pods whose spec.nodeName is `node`.
Compiled compile(const policy::Cluster& cluster, const std::string& node,
                 const Options& options = {});

}  // namespace compiler
