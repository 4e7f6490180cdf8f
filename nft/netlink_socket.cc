#include "nft/netlink_socket.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <cerrno>
#include <cstring>

namespace nft::nl {
namespace {

// A dump reply can be as large as the kernel's dump skb (up to 32 KiB and more).
constexpr std::size_t kReceiveBytes = 256 * 1024;
constexpr std::size_t kRequestBytes = 16 * 1024;
// Receive-queue cost of one acknowledgement (skb overhead included), with room to spare.
constexpr std::size_t kAckTruesize = 2048;
// Never wait for the kernel for ever.
constexpr time_t kReceiveTimeoutSeconds = 30;

Error io_error(const std::string& what, int error) {
  return make_error(Errc::io, what + ": " + std::strerror(error));
}

Status set_flag(mnl_socket* s, int option) {
  int one = 1;
  if (mnl_socket_setsockopt(s, option, &one, sizeof(one)) < 0) {
    return io_error("setsockopt", errno);
  }
  return Status::ok();
}

struct RequestState {
  const std::function<Status(const nlmsghdr*)>* on_message;
  std::optional<Error> error;
  bool interrupted = false;
  std::size_t messages = 0;
};

int on_data(const nlmsghdr* nlh, void* data) {
  auto* state = static_cast<RequestState*>(data);
  ++state->messages;
  if ((nlh->nlmsg_flags & NLM_F_DUMP_INTR) != 0) {
    state->interrupted = true;
  }
  Status s = (*state->on_message)(nlh);
  if (!s) {
    state->error = s.error();
    return MNL_CB_ERROR;
  }
  return MNL_CB_OK;
}

std::string extack_message(const nlmsghdr* nlh) {
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) == 0) {
    return "";
  }
  // With NETLINK_CAP_ACK the original message is not echoed: attributes follow nlmsgerr.
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

}  // namespace

Errc errc_of(int error) {
  switch (error < 0 ? -error : error) {
    case EEXIST:
      return Errc::exists;
    case ENOENT:
      return Errc::not_found;
    case EBUSY:
      return Errc::busy;
    case EINVAL:
      return Errc::invalid;
    case ENOTEMPTY:
      return Errc::overlap;
    case ELOOP:
    case EMLINK:  // nf_tables reports a jump loop as "too deep" when it walks a verdict map
      return Errc::loop;
    case EOPNOTSUPP:
      return Errc::unsupported;
    case ERESTART:
      return Errc::conflict;
    default:
      return Errc::io;
  }
}

Socket::Socket(SocketPtr socket, std::uint32_t portid)
    : socket_(std::move(socket)),
      portid_(portid),
      seq_(static_cast<std::uint32_t>(::time(nullptr))),
      receive_(kReceiveBytes),
      request_(kRequestBytes) {}

Result<std::unique_ptr<Socket>> Socket::open() {
  SocketPtr s(mnl_socket_open(NETLINK_NETFILTER));
  if (!s) {
    return io_error("cannot open a NETLINK_NETFILTER socket", errno);
  }
  if (mnl_socket_bind(s.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return io_error("cannot bind the netlink socket", errno);
  }
  // Errors carry the kernel's explanation; acks do not echo (possibly 64 KiB) requests.
  for (int option : {NETLINK_EXT_ACK, NETLINK_CAP_ACK}) {
    if (Status st = set_flag(s.get(), option); !st) {
      return st.error();
    }
  }
  timeval timeout{.tv_sec = kReceiveTimeoutSeconds, .tv_usec = 0};
  setsockopt(mnl_socket_get_fd(s.get()), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::uint32_t portid = mnl_socket_get_portid(s.get());
  return std::unique_ptr<Socket>(new Socket(std::move(s), portid));
}

std::uint32_t Socket::take_seqs(std::size_t n) {
  std::uint32_t first = seq_;
  seq_ += static_cast<std::uint32_t>(n);
  return first;
}

Status Socket::request(const nlmsghdr* nlh,
                       const std::function<Status(const nlmsghdr*)>& on_message, bool* interrupted,
                       std::size_t* messages) {
  if (mnl_socket_sendto(socket_.get(), nlh, nlh->nlmsg_len) < 0) {
    return io_error("netlink send", errno);
  }
  RequestState state{.on_message = &on_message};
  int ret = MNL_CB_OK;
  while (ret > MNL_CB_STOP) {
    ssize_t n = mnl_socket_recvfrom(socket_.get(), receive_.data(), receive_.size());
    if (n < 0) {
      return io_error("netlink receive", errno);
    }
    ret = mnl_cb_run(receive_.data(), static_cast<std::size_t>(n), nlh->nlmsg_seq, portid_, on_data,
                     &state);
  }
  if (interrupted != nullptr) {
    *interrupted = state.interrupted;
  }
  if (messages != nullptr) {
    *messages += state.messages;
  }
  if (state.error) {
    return *state.error;
  }
  if (ret < 0) {
    int error = errno;
    return make_error(errc_of(error), std::strerror(error));
  }
  return Status::ok();
}

Status Socket::grow(int option, int force_option, std::size_t wanted, std::size_t& current) {
  if (wanted <= current) {
    return Status::ok();
  }
  int size = static_cast<int>(std::min<std::size_t>(wanted, 1u << 30));
  int fd = mnl_socket_get_fd(socket_.get());
  // The *FORCE variants ignore net.core.[rw]mem_max; they need CAP_NET_ADMIN, which we
  // have whenever we can change nf_tables at all.
  if (setsockopt(fd, SOL_SOCKET, force_option, &size, sizeof(size)) < 0 &&
      setsockopt(fd, SOL_SOCKET, option, &size, sizeof(size)) < 0) {
    return io_error("cannot size the netlink socket", errno);
  }
  current = wanted;
  return Status::ok();
}

Status Socket::size_for(std::size_t bytes, std::size_t acks) {
  if (Status s = grow(SO_SNDBUF, SO_SNDBUFFORCE, bytes + 64 * 1024, sndbuf_); !s) {
    return s;
  }
  return grow(SO_RCVBUF, SO_RCVBUFFORCE, acks * kAckTruesize + 256 * 1024, rcvbuf_);
}

Status Socket::send(std::span<const std::uint8_t> bytes) {
  ssize_t n = mnl_socket_sendto(socket_.get(), bytes.data(), bytes.size());
  if (n < 0) {
    return io_error("netlink send of the batch", errno);
  }
  if (static_cast<std::size_t>(n) != bytes.size()) {
    return make_error(Errc::io, "short netlink send of the batch");
  }
  return Status::ok();
}

Result<std::vector<Ack>> Socket::drain_acks() {
  std::vector<Ack> acks;
  int fd = mnl_socket_get_fd(socket_.get());
  for (;;) {
    ssize_t n = recv(fd, receive_.data(), receive_.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return acks;
      }
      if (errno == ENOBUFS) {
        return make_error(Errc::io,
                          "acknowledgements were lost (receive queue overflow); "
                          "the batch's outcome is unknown: re-read the table");
      }
      return io_error("netlink receive", errno);
    }
    auto len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(receive_.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_pid != portid_) {
        continue;
      }
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      acks.push_back(
          Ack{.seq = nlh->nlmsg_seq, .error = err->error, .message = extack_message(nlh)});
    }
  }
}

}  // namespace nft::nl
