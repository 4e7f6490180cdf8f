// The production Netlink: nf_tables over a libmnl NETLINK_NETFILTER socket.
//
// apply() builds ONE batch (batch_builder.h), sends it with ONE sendmsg, and drains
// every acknowledgement: the kernel processes the whole batch inside that sendmsg and
// queues one ACK per message, so all answers are waiting when it returns. The first
// refused message is mapped back to its operation (Error::op_index) and errno category;
// the kernel has then rolled the whole batch back.
//
// Concurrent changes: the socket remembers the ruleset generation id at which it last
// read the table (dump()) or changed it (apply()), and sends it as NFNL_BATCH_GENID: if
// anyone committed anything in this network namespace since, the kernel refuses the
// batch and apply() returns Errc::conflict — re-read (dump) and re-plan. The generation
// is per namespace, not per table: a change to someone else's table also counts. Kernels
// without NFNL_BATCH_GENID (probed at open) get a before/after comparison instead, which
// can only report a concurrent change after the fact (KernelApplyStats::concurrent_change).
// Before the first dump() the generation is read right before sending, which only
// guards that short window.
//
// dump() reads only our table (GETTABLE, GETSET + GETSETELEM per set, GETCHAIN, GETRULE
// filtered by table), retrying (after a short, growing pause) if the generation moved
// during the dump or if a set's element dump repeated an element — the kernel resumes an
// element dump by position, so a hash set that resizes in the background after a large
// change (no new generation) loses elements in the dump and repeats others —, and decodes it
// (table_reader.h). Anything we did not write makes dump() fail with Errc::conflict;
// read_table() returns the decodable part and the list of foreign content instead.
//
// The socket lives in the network namespace of the thread that called open(), for ever.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "nft/netlink.h"
#include "nft/table_reader.h"

namespace nft {

struct Batch;
namespace nl {
class Socket;
}

struct KernelNetlinkOptions {
  // Send NFNL_BATCH_GENID (or compare generations) to notice concurrent changes.
  bool check_generation = true;
  // For tests: called after each reply of a dump() / read_table() request has been
  // handled, with its message type (NFT_MSG_NEWSETELEM, ...), so that a test can change
  // the kernel's state between two parts of one dump. Must not use this KernelNetlink.
  std::function<void(std::uint16_t type)> on_dump_message;
};

struct KernelApplyStats {
  std::size_t messages = 0;  // netlink messages of the batch, begin and end included
  std::size_t elements = 0;  // set elements carried
  std::size_t bytes = 0;     // size of the batch
  std::size_t sendmsg_calls = 0;
  std::size_t acks = 0;                             // acknowledgements received
  std::optional<std::uint32_t> generation_checked;  // the NFNL_BATCH_GENID sent
  bool concurrent_change = false;  // before/after comparison (old kernels) saw another commit
  std::chrono::microseconds build_time{0};
  std::chrono::microseconds kernel_time{0};  // sendmsg + draining the acks
};

struct KernelDumpStats {
  std::size_t requests = 0;  // netlink requests sent (dumps and gets)
  std::size_t messages = 0;  // netlink messages received
  std::size_t attempts = 0;  // > 1 if the ruleset changed during a dump, or a set was
                             // reordered (repeated_elements)
  // Set elements received twice by discarded attempts: the sign of an element dump that
  // lost others (a hash set resizing in the background; see TableReader::repeated()).
  std::size_t repeated_elements = 0;
  std::chrono::microseconds time{0};
};

class KernelNetlink final : public Netlink {
 public:
  // Opens a socket in the current (thread's) network namespace.
  static Result<std::unique_ptr<KernelNetlink>> open(KernelNetlinkOptions options = {});
  ~KernelNetlink() override;
  KernelNetlink(const KernelNetlink&) = delete;
  KernelNetlink& operator=(const KernelNetlink&) = delete;

  Status apply(const Transaction& transaction) override;
  Result<Program> dump(std::string_view table) override;
  // Like dump(), but foreign content is reported rather than refused.
  Result<ReadBack> read_table(std::string_view table);

  // The current ruleset generation id (NFT_MSG_GETGEN).
  Result<std::uint32_t> generation();
  // The generation apply() will send, if known.
  std::optional<std::uint32_t> expected_generation() const { return generation_; }
  bool supports_batch_generation() const { return genid_supported_; }

  const KernelApplyStats& last_apply() const { return apply_stats_; }
  // The socket's netlink port id (see TableMonitor: our own changes carry it).
  std::uint32_t portid() const;
  const KernelDumpStats& last_dump() const { return dump_stats_; }

 private:
  KernelNetlink(std::unique_ptr<nl::Socket> socket, KernelNetlinkOptions options);

  Status probe_batch_generation();
  Result<std::optional<std::uint32_t>> prepare_generation(KernelApplyStats& stats);
  Result<std::map<std::string, SetType>> set_types(const Transaction& transaction);
  Result<ReadBack> read_once(std::string_view table, bool& interrupted);
  Status send_batch(const Batch& batch, const Transaction& transaction);

  std::unique_ptr<nl::Socket> socket_;
  KernelNetlinkOptions options_;
  std::optional<std::uint32_t> generation_;
  bool genid_supported_ = false;
  KernelApplyStats apply_stats_;
  KernelDumpStats dump_stats_;
};

}  // namespace nft
