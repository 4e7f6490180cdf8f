#include "conntrack/kernel_table.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "conntrack/codec.h"
#include "conntrack/netlink_socket.h"

namespace conntrack {

KernelTable::KernelTable(std::unique_ptr<nl::Socket> socket, KernelTableOptions options)
    : socket_(std::move(socket)),
      options_(options),
      // /proc/sys/net shows the network namespace of the task that opens it: this one's.
      count_fd_(::open("/proc/sys/net/netfilter/nf_conntrack_count", O_RDONLY | O_CLOEXEC)) {
  options_.batch = std::max<std::size_t>(1, options_.batch);
}

KernelTable::~KernelTable() {
  if (count_fd_ >= 0) ::close(count_fd_);
}

Result<std::unique_ptr<KernelTable>> KernelTable::open(KernelTableOptions options) {
  auto socket = nl::Socket::open();
  if (!socket) {
    return socket.error();
  }
  return std::unique_ptr<KernelTable>(new KernelTable(std::move(socket).value(), options));
}

std::optional<std::size_t> KernelTable::size_hint() const {
  if (count_fd_ < 0) return std::nullopt;
  char buf[32];
  const ssize_t n = ::pread(count_fd_, buf, sizeof buf - 1, 0);
  if (n <= 0) return std::nullopt;
  buf[n] = 0;
  return static_cast<std::size_t>(std::strtoull(buf, nullptr, 10));
}

bool KernelTable::filters_addresses(common::Family family) const {
  // See the header: the kernel's IPv6 tuple filter compares the wrong way round.
  return family == common::Family::kV4;
}

Status KernelTable::dump(const DumpFilter& filter, const std::function<void(const Entry&)>& visit) {
  char request[codec::kMaxMessage];
  const DumpFilter in_kernel = codec::kernel_part(filter, filters_addresses(common::Family::kV6));
  const nlmsghdr* nlh = codec::build_dump(request, in_kernel, socket_->take_seqs(1));
  ++stats_.dumps;
  std::size_t messages = 0;
  return socket_->dump(
      nlh,
      [&](const nlmsghdr* reply) {
        std::optional<Entry> entry = codec::parse(reply);
        if (!entry) {
          return;
        }
        ++stats_.entries_received;
        if (filter.matches(*entry)) {
          ++stats_.entries_visited;
          visit(*entry);
        }
      },
      messages);
}

Result<KernelTable::BatchResult> KernelTable::send(std::span<const Entry> entries, const char* what,
                                                   bool create, const Build& build) {
  BatchResult result;
  std::vector<char> buffer(std::min(entries.size(), options_.batch) * codec::kMaxMessage);
  for (std::size_t start = 0; start < entries.size(); start += options_.batch) {
    const std::size_t n = std::min(options_.batch, entries.size() - start);
    const std::uint32_t first_seq = socket_->take_seqs(n);
    std::size_t used = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const nlmsghdr* nlh = build(buffer.data() + used, entries[start + i],
                                  first_seq + static_cast<std::uint32_t>(i));
      used += NLMSG_ALIGN(nlh->nlmsg_len);
    }
    auto acks = socket_->batch(std::span<const char>(buffer.data(), used), first_seq, n);
    ++stats_.sendmsg_calls;
    stats_.messages_sent += n;
    if (!acks) {
      return acks.error();
    }
    if (acks.value().other > 0 || (create && acks.value().not_found > 0)) {
      const int error = acks.value().other > 0 ? acks.value().first_error : ENOENT;
      return nft::make_error(error == EEXIST ? nft::Errc::exists : nft::Errc::io,
                             std::string("conntrack ") + what + ": " + std::strerror(error) + " " +
                                 acks.value().first_message);
    }
    result.ok += acks.value().ok;
    result.not_found += acks.value().not_found;
  }
  return result;
}

Result<std::size_t> KernelTable::remove(const std::vector<Entry>& entries) {
  auto result = send(entries, "delete", false, [](char* at, const Entry& e, std::uint32_t seq) {
    return codec::build_delete(at, e, seq);
  });
  if (!result) {
    return result.error();
  }
  stats_.removed += result.value().ok;
  stats_.already_gone += result.value().not_found;
  return result.value().ok;
}

Result<std::size_t> KernelTable::change_mark(const std::vector<Entry>& entries, MarkChange change) {
  auto result = send(entries, "mark", false, [&](char* at, const Entry& e, std::uint32_t seq) {
    return codec::build_mark(at, e, seq, change);
  });
  if (!result) {
    return result.error();
  }
  stats_.marked += result.value().ok;
  stats_.already_gone += result.value().not_found;
  return result.value().ok;
}

Status KernelTable::insert(std::span<const Entry> entries, std::uint32_t timeout_seconds) {
  return send(entries, "create", true,
              [&](char* at, const Entry& e, std::uint32_t seq) {
                return codec::build_create(at, e, seq, timeout_seconds);
              })
      .status();
}

}  // namespace conntrack
