// A NETLINK_NETFILTER socket (libmnl) with the few conversations nf_tables needs:
// a request answered by messages until NLMSG_DONE or an ACK, and a batch whose
// acknowledgements are all queued by the time sendmsg returns. Internal to nft/.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "nft/nftnl_handles.h"
#include "nft/result.h"

namespace nft::nl {

struct Ack {
  std::uint32_t seq = 0;
  int error = 0;        // 0 or a negative errno, as the kernel sends it
  std::string message;  // the kernel's extended-ack text, if any
};

// errno -> the category callers branch on.
Errc errc_of(int error);

class Socket {
 public:
  static Result<std::unique_ptr<Socket>> open();

  std::uint32_t next_seq() { return seq_++; }
  // The port id the kernel knows this socket by: nf_tables notifications of changes made
  // through it carry it as nlmsg_pid.
  std::uint32_t portid() const { return portid_; }
  // Reserves `n` consecutive sequence numbers; returns the first.
  std::uint32_t take_seqs(std::size_t n);
  // A scratch buffer for building one request.
  char* request_buffer() { return reinterpret_cast<char*>(request_.data()); }

  // Sends the request `nlh` (already carrying a sequence number) and hands every reply
  // to `on_message` until the kernel is done. `interrupted` is set if a dump reply was
  // flagged NLM_F_DUMP_INTR (the ruleset changed during the dump).
  Status request(const nlmsghdr* nlh, const std::function<Status(const nlmsghdr*)>& on_message,
                 bool* interrupted = nullptr, std::size_t* messages = nullptr);

  // Grows the socket buffers so that `bytes` go out in one sendmsg and `acks`
  // acknowledgements fit in the receive queue.
  Status size_for(std::size_t bytes, std::size_t acks);
  Status send(std::span<const std::uint8_t> bytes);
  // Every acknowledgement waiting on the socket (non-blocking).
  Result<std::vector<Ack>> drain_acks();

 private:
  Socket(SocketPtr socket, std::uint32_t portid);
  Status grow(int option, int force_option, std::size_t wanted, std::size_t& current);

  SocketPtr socket_;
  std::uint32_t portid_;
  std::uint32_t seq_;
  std::vector<std::uint8_t> receive_;
  std::vector<std::uint8_t> request_;
  std::size_t sndbuf_ = 0;
  std::size_t rcvbuf_ = 0;
};

}  // namespace nft::nl
