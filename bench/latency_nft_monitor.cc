#include "latency_nft_monitor.h"

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <stdexcept>

namespace bench {
namespace {

struct SetDeleter {
  void operator()(nftnl_set* s) const { nftnl_set_free(s); }
};
struct ChainDeleter {
  void operator()(nftnl_chain* c) const { nftnl_chain_free(c); }
};

// Name and element keys of a NEWSETELEM/DELSETELEM notification.
void parse_elements(const nlmsghdr* nlh, std::map<std::string, std::set<KeyBytes>>& into) {
  std::unique_ptr<nftnl_set, SetDeleter> set(nftnl_set_alloc());
  if (!set || nftnl_set_elems_nlmsg_parse(nlh, set.get()) < 0) return;
  const char* name = nftnl_set_get_str(set.get(), NFTNL_SET_NAME);
  auto& keys = into[name ? name : "?"];
  nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(set.get());
  if (!it) return;
  for (nftnl_set_elem* e = nftnl_set_elems_iter_cur(it); e; e = nftnl_set_elems_iter_next(it)) {
    std::uint32_t len = 0;
    const auto* key =
        static_cast<const std::uint8_t*>(nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len));
    if (key) keys.insert(KeyBytes(key, key + len));
  }
  nftnl_set_elems_iter_destroy(it);
}

std::string object_name(const nlmsghdr* nlh, bool chain) {
  if (chain) {
    std::unique_ptr<nftnl_chain, ChainDeleter> c(nftnl_chain_alloc());
    if (!c || nftnl_chain_nlmsg_parse(nlh, c.get()) < 0) return "?";
    const char* n = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME);
    return n ? n : "?";
  }
  std::unique_ptr<nftnl_set, SetDeleter> s(nftnl_set_alloc());
  if (!s || nftnl_set_nlmsg_parse(nlh, s.get()) < 0) return "?";
  const char* n = nftnl_set_get_str(s.get(), NFTNL_SET_NAME);
  return n ? n : "?";
}

}  // namespace

NftMonitor::NftMonitor() {
  socket_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (!socket_) throw std::runtime_error("nft monitor: cannot open a netlink socket");
  if (mnl_socket_bind(socket_, 1u << (NFNLGRP_NFTABLES - 1), MNL_SOCKET_AUTOPID) < 0) {
    mnl_socket_close(socket_);
    throw std::runtime_error("nft monitor: cannot join NFNLGRP_NFTABLES");
  }
  // Room for the notifications of a large batch; losing some is counted, not fatal.
  const int bytes = 64 << 20;
  setsockopt(mnl_socket_get_fd(socket_), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
  thread_ = std::thread([this] { run(); });
}

NftMonitor::~NftMonitor() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  mnl_socket_close(socket_);
}

void NftMonitor::run() {
  std::vector<char> buf(1 << 20);
  pollfd pfd{.fd = mnl_socket_get_fd(socket_), .events = POLLIN, .revents = 0};
  while (!stop_) {
    if (::poll(&pfd, 1, 50) <= 0) continue;
    const ssize_t n = mnl_socket_recvfrom(socket_, buf.data(), buf.size());
    const auto at = Clock::now();
    if (n < 0) {
      if (errno == ENOBUFS) ++overruns_;
      continue;
    }
    auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
    int left = static_cast<int>(n);
    for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) handle(nlh, at);
  }
}

void NftMonitor::handle(const nlmsghdr* nlh, Clock::time_point at) {
  if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) return;
  if (!open_) {
    current_ = NftBatch{.first = at};
    open_ = true;
  }
  ++current_.messages;
  switch (nlh->nlmsg_type & 0xff) {
    case NFT_MSG_NEWSETELEM:
      parse_elements(nlh, current_.added);
      break;
    case NFT_MSG_DELSETELEM:
      parse_elements(nlh, current_.deleted);
      break;
    case NFT_MSG_NEWCHAIN:
      current_.chains_added.insert(object_name(nlh, true));
      break;
    case NFT_MSG_DELCHAIN:
      current_.chains_deleted.insert(object_name(nlh, true));
      break;
    case NFT_MSG_NEWSET:
      current_.sets_added.insert(object_name(nlh, false));
      break;
    case NFT_MSG_DELSET:
      current_.sets_deleted.insert(object_name(nlh, false));
      break;
    case NFT_MSG_NEWRULE:
      ++current_.rules_added;
      break;
    case NFT_MSG_DELRULE:
      ++current_.rules_deleted;
      break;
    case NFT_MSG_NEWGEN: {
      current_.end = at;
      {
        std::lock_guard lock(mu_);
        done_.push_back(std::move(current_));
      }
      open_ = false;
      cv_.notify_all();
      break;
    }
    default:
      break;
  }
}

std::optional<NftBatch> NftMonitor::next(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_until(lock, deadline, [this] { return !done_.empty(); })) return std::nullopt;
  NftBatch b = std::move(done_.front());
  done_.pop_front();
  return b;
}

void NftMonitor::clear() {
  std::lock_guard lock(mu_);
  done_.clear();
}

}  // namespace bench
