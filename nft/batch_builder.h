// The pure half of talking to the kernel: a Transaction becomes the bytes of ONE
// nf_tables netlink batch (NFNL_MSG_BATCH_BEGIN, the operations' messages, END),
// built with libnftnl objects. No I/O: kernel_netlink.h sends what this builds.
//
// Every message asks for an ACK and carries its own sequence number; the builder records
// which operation each number belongs to, so an error the kernel reports can be mapped
// back to the operation. Semantics are "create": NLM_F_CREATE|NLM_F_EXCL on everything
// we add, except AddTable (idempotent, like `nft add table`). An operation may cost
// several messages: AddElements is split so that no message's element list exceeds
// what a netlink attribute can hold (64 KiB), and a rule with `meta l4proto { a, b }`
// first creates the anonymous set nft would create. An empty transaction yields an
// empty batch (no bytes at all): there is nothing worth a round trip.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nft/result.h"
#include "nft/transaction.h"

namespace nft {

struct BatchMessage {
  std::uint32_t seq = 0;
  std::uint16_t type = 0;               // NFT_MSG_*, or NFNL_MSG_BATCH_BEGIN/END
  std::optional<std::size_t> op_index;  // absent for batch begin and end
  std::size_t elements = 0;             // set elements carried (an interval counts once)
  std::size_t offset = 0;               // where the message starts in Batch::bytes
  std::size_t length = 0;               // its nlmsg_len
};

struct Batch {
  std::vector<std::uint8_t> bytes;     // the messages, back to back, NLMSG_ALIGNed
  std::vector<BatchMessage> messages;  // in order: begin, …, end
  std::size_t elements = 0;

  bool empty() const { return messages.empty(); }
  // The message with this sequence number, or nullptr.
  const BatchMessage* find(std::uint32_t seq) const;
  // The sequence number after the last one used.
  std::uint32_t next_seq() const;
};

struct BatchOptions {
  std::uint32_t first_seq = 1;
  // Sent as NFNL_BATCH_GENID: the kernel refuses the whole batch with ERESTART if the
  // ruleset generation is no longer this one.
  std::optional<std::uint32_t> generation;
  // Upper bound for one message's size (an element list must also fit in a u16 length).
  std::size_t max_message_bytes = 64 * 1024 - 512;
  // Types of sets that exist before the transaction (needed for rules looking up
  // `meta l4proto . th dport` in them: nft encodes those differently for interval sets).
  std::function<std::optional<SetType>(const std::string&)> existing_set;
};

Result<Batch> build_batch(const Transaction& transaction, const BatchOptions& options = {});

// Just BEGIN and END: what probes the kernel's support for NFNL_BATCH_GENID.
Batch build_empty_batch(std::uint32_t first_seq, std::optional<std::uint32_t> generation);

// Sets that rules of the transaction look up with `meta l4proto . th dport` and that the
// transaction does not create itself: the ones BatchOptions::existing_set is asked for.
std::vector<std::string> sets_needing_types(const Transaction& transaction);

}  // namespace nft
