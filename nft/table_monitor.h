// TableMonitor: notices changes to one nf_tables table made by anyone else, as they happen.
//
// It listens on the NFNLGRP_NFTABLES multicast group (the notifications `nft monitor` shows)
// of the network namespace of the thread that opens it. Every object notification (table,
// chain, rule, set, element, object, flowtable) names its table in attribute 1, and carries
// as nlmsg_pid the netlink port of the socket whose batch made the change: a notification
// for our table from another port is someone else's edit (`nft delete table …`, a flushed
// set, an inserted rule). A receive queue that overflowed (ENOBUFS: a burst of notifications
// was lost) counts as a possible edit too; the caller reads the table back, which costs
// little when nothing changed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nft/result.h"

namespace nft {

namespace nl {
class Socket;
}

class TableMonitor {
 public:
  static Result<std::unique_ptr<TableMonitor>> open(std::string table);
  ~TableMonitor();
  TableMonitor(const TableMonitor&) = delete;
  TableMonitor& operator=(const TableMonitor&) = delete;

  // Waits up to `timeout` for notifications; true if one concerned `table` (family inet) and
  // came from a port other than `own_portid`, or if notifications were lost.
  bool wait(std::chrono::milliseconds timeout, std::uint32_t own_portid);

 private:
  struct Impl;
  explicit TableMonitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nft
