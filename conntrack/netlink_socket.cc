#include "conntrack/netlink_socket.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace conntrack::nl {
namespace {

// Dump replies come in skbs of up to 32 KiB (more on some kernels): room for several.
constexpr std::size_t kReceiveBytes = 256 * 1024;
// Receive-queue cost of one queued acknowledgement (the skb's truesize), with room to spare.
constexpr std::size_t kAckTruesize = 2048;
constexpr time_t kReceiveTimeoutSeconds = 30;

nft::Error io_error(const std::string& what, int error) {
  return nft::make_error(nft::Errc::io, what + ": " + std::strerror(error));
}

std::string extack_message(const nlmsghdr* nlh) {
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) == 0) {
    return "";
  }
  std::size_t offset = sizeof(nlmsgerr);
  if ((nlh->nlmsg_flags & NLM_F_CAPPED) == 0) {
    const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
    offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  }
  const char* end = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, offset));
  while (mnl_attr_ok(attr, static_cast<int>(end - reinterpret_cast<const char*>(attr)))) {
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG) {
      return mnl_attr_get_str(attr);
    }
    attr = static_cast<const nlattr*>(mnl_attr_next(attr));
  }
  return "";
}

struct DumpState {
  const std::function<void(const nlmsghdr*)>* on_message;
  std::size_t messages = 0;
};

int on_data(const nlmsghdr* nlh, void* data) {
  auto* state = static_cast<DumpState*>(data);
  ++state->messages;
  (*state->on_message)(nlh);
  return MNL_CB_OK;
}

void count_ack(const nlmsghdr* nlh, BatchAcks& acks) {
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  if (err->error == 0) {
    ++acks.ok;
  } else if (err->error == -ENOENT) {
    ++acks.not_found;
  } else if (acks.other++ == 0) {
    acks.first_error = -err->error;
    acks.first_message = extack_message(nlh);
  }
}

}  // namespace

Socket::Socket(SocketPtr socket, std::uint32_t portid)
    : socket_(std::move(socket)),
      portid_(portid),
      seq_(static_cast<std::uint32_t>(::time(nullptr))),
      receive_(kReceiveBytes) {}

nft::Result<std::unique_ptr<Socket>> Socket::open() {
  SocketPtr s(mnl_socket_open(NETLINK_NETFILTER));
  if (!s) {
    return io_error("cannot open a NETLINK_NETFILTER socket", errno);
  }
  if (mnl_socket_bind(s.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return io_error("cannot bind the netlink socket", errno);
  }
  // Errors explain themselves; acknowledgements do not echo the request.
  for (int option : {NETLINK_EXT_ACK, NETLINK_CAP_ACK}) {
    int one = 1;
    if (mnl_socket_setsockopt(s.get(), option, &one, sizeof one) < 0) {
      return io_error("setsockopt", errno);
    }
  }
  timeval timeout{.tv_sec = kReceiveTimeoutSeconds, .tv_usec = 0};
  setsockopt(mnl_socket_get_fd(s.get()), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  const std::uint32_t portid = mnl_socket_get_portid(s.get());
  return std::unique_ptr<Socket>(new Socket(std::move(s), portid));
}

std::uint32_t Socket::take_seqs(std::size_t n) {
  const std::uint32_t first = seq_;
  seq_ += static_cast<std::uint32_t>(n);
  return first;
}

nft::Status Socket::dump(const nlmsghdr* request,
                         const std::function<void(const nlmsghdr*)>& on_message,
                         std::size_t& messages) {
  if (mnl_socket_sendto(socket_.get(), request, request->nlmsg_len) < 0) {
    return io_error("conntrack dump request", errno);
  }
  DumpState state{.on_message = &on_message};
  int ret = MNL_CB_OK;
  while (ret > MNL_CB_STOP) {
    const ssize_t n = mnl_socket_recvfrom(socket_.get(), receive_.data(), receive_.size());
    if (n < 0) {
      return io_error("conntrack dump", errno);
    }
    ret = mnl_cb_run(receive_.data(), static_cast<std::size_t>(n), request->nlmsg_seq, portid_,
                     on_data, &state);
  }
  messages += state.messages;
  if (ret < 0) {
    return io_error("conntrack dump refused", errno);
  }
  return nft::Status::ok();
}

nft::Status Socket::size_for(std::size_t bytes, std::size_t acks) {
  auto grow = [&](int option, int force, std::size_t wanted, std::size_t& current) {
    if (wanted <= current) {
      return true;
    }
    int size = static_cast<int>(std::min<std::size_t>(wanted, 1u << 30));
    const int fd = mnl_socket_get_fd(socket_.get());
    // The FORCE variants ignore net.core.[rw]mem_max; they need CAP_NET_ADMIN, which
    // changing conntrack needs anyway.
    if (setsockopt(fd, SOL_SOCKET, force, &size, sizeof size) < 0 &&
        setsockopt(fd, SOL_SOCKET, option, &size, sizeof size) < 0) {
      return false;
    }
    current = wanted;
    return true;
  };
  if (!grow(SO_SNDBUF, SO_SNDBUFFORCE, bytes + 64 * 1024, sndbuf_) ||
      !grow(SO_RCVBUF, SO_RCVBUFFORCE, acks * kAckTruesize + kReceiveBytes, rcvbuf_)) {
    return io_error("cannot size the netlink socket", errno);
  }
  return nft::Status::ok();
}

nft::Result<BatchAcks> Socket::batch(std::span<const char> bytes, std::uint32_t first_seq,
                                     std::size_t count) {
  if (nft::Status s = size_for(bytes.size(), count); !s) {
    return s.error();
  }
  const ssize_t sent = mnl_socket_sendto(socket_.get(), bytes.data(), bytes.size());
  if (sent < 0 || static_cast<std::size_t>(sent) != bytes.size()) {
    return io_error("conntrack batch send", sent < 0 ? errno : EMSGSIZE);
  }
  BatchAcks acks;
  std::size_t received = 0;
  while (received < count) {
    const ssize_t n = mnl_socket_recvfrom(socket_.get(), receive_.data(), receive_.size());
    if (n < 0) {
      return io_error(errno == ENOBUFS ? "acknowledgements lost (receive queue overflow)"
                                       : "conntrack batch acknowledgements",
                      errno);
    }
    auto len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(receive_.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_pid != portid_ ||
          nlh->nlmsg_seq - first_seq >= count) {
        continue;  // not one of ours (a late answer to an earlier request)
      }
      count_ack(nlh, acks);
      ++received;
    }
  }
  return acks;
}

}  // namespace conntrack::nl
