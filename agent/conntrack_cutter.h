// The agent's ConnectionCutter on the kernel's conntrack table (conntrack/): after every
// applied change, the connections the new program denies are deleted (scope: what changed
// between the two programs; everything when the previous program is unknown), and so are
// the connections of this node's pod IPs that left their pods.
#pragma once

#include <memory>
#include <set>

#include "agent/enforcer.h"
#include "conntrack/kernel_table.h"
#include "conntrack/revoker.h"
#include "conntrack/scope.h"

namespace agent {

class ConntrackCutter final : public ConnectionCutter {
 public:
  // Opens the conntrack netlink socket in the current network namespace.
  static conntrack::Result<std::unique_ptr<ConntrackCutter>> open();

  void note(const Change& change) override;
  bool pending() const override { return !scope_.empty() || !released_.empty(); }
  Report cut(const nft::Program& current) override;

 private:
  explicit ConntrackCutter(std::unique_ptr<conntrack::KernelTable> table)
      : table_(std::move(table)) {}
  std::unique_ptr<conntrack::KernelTable> table_;
  conntrack::Scope scope_;             // noted, not cut yet
  std::set<common::IpAddr> released_;  // likewise
};

// Every address of this host's interfaces, both families (getifaddrs).
conntrack::NodeAddresses node_addresses();

}  // namespace agent
