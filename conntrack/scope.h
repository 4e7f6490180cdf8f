// What a change of program could have affected, so that revocation looks at those flows
// only: the addresses whose verdicts may have changed, by the packet field the program
// judges them on, or everything.
#pragma once

#include <set>

#include "common/ip.h"
#include "nft/program.h"

namespace conntrack {

struct Scope {
  bool everything = false;
  // Flows whose source (as the filter hooks see it: before SNAT, the original tuple's
  // source) is one of these.
  std::set<common::IpAddr> sources;
  // Flows whose destination (after DNAT: the reply tuple's source) is one of these.
  std::set<common::IpAddr> destinations;

  static Scope all() { return Scope{.everything = true}; }
  // Both directions of every address (e.g. "these pods' verdicts may have changed").
  static Scope of(const std::set<common::IpAddr>& addresses) {
    return Scope{.sources = addresses, .destinations = addresses};
  }
  bool empty() const { return !everything && sources.empty() && destinations.empty(); }
  void merge(const Scope& other);
  bool operator==(const Scope&) const = default;
};

// The scope of diff(before, after), derived from the two programs alone (a pure function):
// - a base chain added, removed or changed, a jump from a base chain into a changed
//   chain, or a changed set that a base chain looks up other than by exact address
//   (an interval set, a port set): everything;
// - a changed element of a verdict map a base chain dispatches on (added, removed, other
//   verdict), or an unchanged element whose chain changed: that address, judged on the
//   field the map is keyed by (`ip saddr vmap` -> sources, `ip daddr vmap` -> destinations);
// - a chain "changes" when its rules change, a set or map it uses changes, or a chain it
//   jumps to (directly or through a map) changes; so a peer set that gains or loses a pod
//   reaches every pod of the node whose ingress chain (as destination) or egress chain (as
//   source) uses it — the flows between them and the peer are found from the node pod's
//   side, whichever end the peer is on;
// - a changed set that a base-chain rule looks up by exact address (the mid-stream guard's
//   isolated-v4/v6): the addresses added or removed — unless the rule cannot match the first
//   packet of a flow (a `tcp flags` test a SYN fails, or a `ct state` that excludes new and
//   related), which revocation never judges anyway.
Scope scope_of_change(const nft::Program& before, const nft::Program& after);

}  // namespace conntrack
