// A NETLINK_NETFILTER socket (libmnl) with the two conversations ctnetlink needs: a dump
// (request, then replies until NLMSG_DONE) and a batch of requests sent in one sendmsg,
// whose acknowledgements are all queued by the time sendmsg returns. Internal to conntrack/.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "conntrack/handles.h"
#include "nft/result.h"

namespace conntrack::nl {

// The outcome of one batch: acknowledgements counted by kind.
struct BatchAcks {
  std::size_t ok = 0;
  std::size_t not_found = 0;  // ENOENT: the entry was gone (or its id did not match)
  std::size_t other = 0;
  int first_error = 0;  // errno of the first other error
  std::string first_message;
};

class Socket {
 public:
  // Opens and binds a socket in the current thread's network namespace.
  static nft::Result<std::unique_ptr<Socket>> open();

  std::uint32_t take_seqs(std::size_t n);

  // Sends `request` (carrying its sequence number) and hands every reply to `on_message`
  // until the kernel is done. `messages` counts the replies.
  nft::Status dump(const nlmsghdr* request, const std::function<void(const nlmsghdr*)>& on_message,
                   std::size_t& messages);

  // Sends `bytes` (`count` requests with NLM_F_ACK and consecutive sequence numbers from
  // `first_seq`) in one sendmsg and collects their `count` acknowledgements.
  nft::Result<BatchAcks> batch(std::span<const char> bytes, std::uint32_t first_seq,
                               std::size_t count);

 private:
  Socket(SocketPtr socket, std::uint32_t portid);
  nft::Status size_for(std::size_t bytes, std::size_t acks);

  SocketPtr socket_;
  std::uint32_t portid_;
  std::uint32_t seq_;
  std::vector<char> receive_;
  std::size_t sndbuf_ = 0;
  std::size_t rcvbuf_ = 0;
};

}  // namespace conntrack::nl
