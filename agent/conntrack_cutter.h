// The agent's ConnectionCutter on the kernel's conntrack table (conntrack/): after every
// applied change, the connections the new program denies are cut (scope: what changed
// between the two programs; everything when the previous program is unknown) — TCP entries
// deleted, the others quarantined with the mark the program drops, and released when a later
// program allows them again — and the connections of this node's pod IPs that left their
// pods are deleted. Report::deleted counts entries deleted and quarantined.
#pragma once

#include <cstdint>
#include <memory>
#include <set>

#include "agent/enforcer.h"
#include "conntrack/kernel_table.h"
#include "conntrack/revoker.h"
#include "conntrack/scope.h"

namespace agent {

class ConntrackCutter final : public ConnectionCutter {
 public:
  // Opens the conntrack netlink socket in the current network namespace. `quarantine_mark`:
  // compiler::Options::quarantine_mark of the programs it will be given (0: delete all).
  static conntrack::Result<std::unique_ptr<ConntrackCutter>> open(std::uint32_t quarantine_mark);
  // On any table (tests: conntrack::FakeTable).
  ConntrackCutter(std::unique_ptr<conntrack::Table> table, std::uint32_t quarantine_mark)
      : table_(std::move(table)),
        quarantine_mark_(quarantine_mark),
        recheck_(quarantine_mark != 0) {}

  void note(const Change& change) override;
  // A cut that fails (netlink: ENOBUFS on a dump, a refused delete) keeps pending what it did
  // not finish, with whatever is noted meanwhile; the Enforcer tries again after a backoff.
  bool pending() const override { return !scope_.empty() || !released_.empty() || recheck_; }
  Report cut(const nft::Program& current) override;

 private:
  std::unique_ptr<conntrack::Table> table_;
  std::uint32_t quarantine_mark_;
  // Whether entries in quarantine may exist: each cut then also dumps them (one more walk of
  // the kernel's table) to release those allowed again. At start, an earlier run of the
  // agent may have left some.
  bool quarantine_may_exist_ = true;
  // A change that can only allow more was noted while entries in quarantine may exist: the
  // next cut re-judges them (one dump by mark) even with nothing to revoke. True at start: a
  // restarted agent whose first sync changes nothing must still release what an earlier run
  // left marked and the program now allows (that run may have died before its cut).
  bool recheck_;
  conntrack::Scope scope_;             // noted, not cut yet
  std::set<common::IpAddr> released_;  // likewise
};

// Every address of this host's interfaces, both families (getifaddrs).
conntrack::NodeAddresses node_addresses();

}  // namespace agent
