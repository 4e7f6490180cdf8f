// Revocation: after a new program is applied, cut the tracked connections it denies — and
// only those — so that established connections a policy change forbids stop. TCP entries
// are deleted; entries of other protocols are quarantined (a ct mark bit the program's first
// rule drops), and released when a later program allows them again.
//
// Each entry is judged as the kernel would judge the first packet of its flow under the NEW
// program: the original direction, `ct state new` (`related` for expected flows), TCP flags
// SYN, source = the original tuple's source (the filter hooks see it before SNAT),
// destination and port = the reply tuple's source (after DNAT, so a ClusterIP connection
// is judged by the endpoint it reached), on the hook the kernel would use: output when the
// source is an address of the node, input when the destination is, forward otherwise. The
// program is run by compiler::run; nothing here knows what a NetworkPolicy is.
//
// The Scope decides which entries are looked at: one kernel-filtered dump per address and
// side (sources: original source; destinations: reply source), or — past
// RevokeOptions::max_filtered_dumps, or for a family the table cannot filter by address —
// one dump of the family, or of everything; plus, when entries in quarantine may exist, one
// dump filtered by the quarantine bit. Every entry looked at that the new program denies is
// cut, in or out of the scope.
#pragma once

#include <chrono>
#include <cstddef>
#include <set>

#include "common/ip.h"
#include "compiler/compiler.h"
#include "compiler/interpreter.h"
#include "conntrack/scope.h"
#include "conntrack/table.h"
#include "nft/program.h"

namespace conntrack {

// The node's own addresses (all interfaces, both families): given by the caller, never
// read here.
struct NodeAddresses {
  std::set<common::IpAddr> addresses;
  bool contains(const common::IpAddr& a) const { return addresses.count(a) > 0; }
};

struct RevokeOptions {
  // Each dump walks the kernel's whole table (≈45-50 ms at 250k entries, see README.md),
  // while one unfiltered dump costs ≈10 walks (≈470 ms): past this many filtered dumps,
  // dump whole families instead.
  std::size_t max_filtered_dumps = 8;
  // Each dump walks every bucket of the kernel's hash, however few entries it holds (≈4-5 ms
  // with the default 262,144 buckets): when the table holds fewer entries than this, one
  // dump of everything is cheaper than two or more filtered ones.
  std::size_t whole_table_below = 4096;
  // Denied connections of protocols other than TCP are quarantined rather than deleted: this
  // ct mark bit is set on their entries, and the program's first rule drops their packets
  // both ways (compiler::Options::quarantine_mark: the same value). Deleted, a UDP flow whose
  // answer is in flight comes back as a new entry server -> client; a TCP one cannot (the
  // mid-stream guard), so TCP entries are deleted. 0: delete every denied entry.
  std::uint32_t quarantine_mark = compiler::kDefaultQuarantineMark;
  // Whether entries in quarantine may exist (marked by an earlier revocation, maybe by an
  // earlier run of the agent): one more dump, filtered by the mark in the kernel, finds them,
  // and those the program allows again are released (the bit cleared). A caller that knows
  // there are none (RevokeReport::in_quarantine was 0 last time) saves that table walk.
  bool find_quarantined = true;
};

struct RevokeReport {
  std::size_t dumps = 0;        // dump requests made
  std::size_t examined = 0;     // distinct entries judged
  std::size_t denied = 0;       // of those, denied by the program
  std::size_t deleted = 0;      // of those, deleted now (the rest vanished meanwhile)
  std::size_t quarantined = 0;  // of those, marked now (others were already, or vanished)
  std::size_t released = 0;     // entries in quarantine the program allows: their bit cleared
  // Examined entries in quarantine after this revocation (still denied, or marked now): all
  // of the table's when the quarantine was looked for (or the dump was whole) — or when none
  // could exist before.
  std::size_t in_quarantine = 0;
  bool whole_families = false;  // the scope was too wide (or unfilterable) for per-address dumps
  std::chrono::microseconds dump_time{0};    // dumping and judging
  std::chrono::microseconds delete_time{0};  // deleting, marking and releasing
  std::chrono::microseconds time{0};         // all of it
};

// The first packet of the entry's flow, as the hook `hook` sees it.
compiler::Packet first_packet(const Entry& entry, nft::Hook hook, const NodeAddresses& local);
// Whether the program lets the entry's first packet through every hook it crosses.
bool allowed(const nft::Program& program, const Entry& entry, const NodeAddresses& local);

// The dumps that cover `scope` on `table` (and the entries in quarantine, if asked to).
std::vector<DumpFilter> plan_dumps(const Scope& scope, const Table& table,
                                   const RevokeOptions& options = {});

// Deletes (TCP) or quarantines (the others) the entries in `scope` that `program` denies,
// and releases the entries in quarantine that it allows. An empty scope costs nothing.
Result<RevokeReport> revoke(const nft::Program& program, Table& table, const Scope& scope,
                            const NodeAddresses& local, const RevokeOptions& options = {});

// Re-judges only the entries in quarantine (one dump, filtered by the mark in the kernel):
// releases those `program` allows, leaves the others. For changes that can only allow more
// (addresses joining peer sets), which need no revocation but may allow a quarantined flow
// again. Nothing to do when RevokeOptions::quarantine_mark is 0.
Result<RevokeReport> release_quarantined(const nft::Program& program, Table& table,
                                         const NodeAddresses& local,
                                         const RevokeOptions& options = {});

// Deletes every entry whose original or reply tuple holds one of `addresses` (pods that are
// gone: an address reused by a new pod must not carry the old pod's connections).
Result<RevokeReport> remove_addresses(Table& table, const std::set<common::IpAddr>& addresses,
                                      const RevokeOptions& options = {});

}  // namespace conntrack
