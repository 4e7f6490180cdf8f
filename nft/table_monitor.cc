#include "nft/table_monitor.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "nft/nftnl_handles.h"

namespace nft {
namespace {

// Every nf_tables object notification names its table in attribute 1 (NFTA_TABLE_NAME,
// NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, ...).
constexpr std::uint16_t kTableAttribute = 1;

bool names_table(const nlmsghdr* nlh, const std::string& table) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) return false;
  const auto* g = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  if (g->nfgen_family != NFPROTO_INET) return false;
  // Walk the attributes by hand: libmnl's iteration macro casts from void*, which C++
  // refuses.
  const auto* payload =
      static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)));
  const char* tail = reinterpret_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  for (const auto* attr = reinterpret_cast<const nlattr*>(payload);
       mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr)));
       attr = static_cast<const nlattr*>(mnl_attr_next(attr))) {
    if (mnl_attr_get_type(attr) != kTableAttribute) continue;
    const auto* name = static_cast<const char*>(mnl_attr_get_payload(attr));
    const auto len = ::strnlen(name, mnl_attr_get_payload_len(attr));
    return table.size() == len && std::strncmp(name, table.c_str(), len) == 0;
  }
  return false;
}

}  // namespace

struct TableMonitor::Impl {
  std::string table;
  nl::SocketPtr socket;
  std::vector<char> buffer = std::vector<char>(1 << 16);
};

TableMonitor::TableMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TableMonitor::~TableMonitor() = default;

Result<std::unique_ptr<TableMonitor>> TableMonitor::open(std::string table) {
  auto impl = std::make_unique<Impl>();
  impl->table = std::move(table);
  impl->socket.reset(mnl_socket_open(NETLINK_NETFILTER));
  if (!impl->socket) return make_error(Errc::io, std::string("netlink: ") + std::strerror(errno));
  if (mnl_socket_bind(impl->socket.get(), 1u << (NFNLGRP_NFTABLES - 1), MNL_SOCKET_AUTOPID) < 0) {
    return make_error(Errc::io, std::string("netlink bind: ") + std::strerror(errno));
  }
  // Our own large batches notify a message per object: room for many before ENOBUFS.
  const int bytes = 8 << 20;
  (void)setsockopt(mnl_socket_get_fd(impl->socket.get()), SOL_SOCKET, SO_RCVBUFFORCE, &bytes,
                   sizeof bytes);
  return std::unique_ptr<TableMonitor>(new TableMonitor(std::move(impl)));
}

bool TableMonitor::wait(std::chrono::milliseconds timeout, std::uint32_t own_portid) {
  const int fd = mnl_socket_get_fd(impl_->socket.get());
  pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return false;
  bool foreign = false;
  for (;;) {
    const ssize_t n = ::recv(fd, impl_->buffer.data(), impl_->buffer.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == ENOBUFS) foreign = true;  // lost notifications: maybe someone else's
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
      break;
    }
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(impl_->buffer.data());
    for (int left = static_cast<int>(n); mnl_nlmsg_ok(nlh, left);
         nlh = mnl_nlmsg_next(nlh, &left)) {
      if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES) continue;
      if (nlh->nlmsg_pid == own_portid) continue;
      if (names_table(nlh, impl_->table)) foreign = true;
    }
  }
  return foreign;
}

}  // namespace nft
