// Listens to the nf_tables notifications of the current network namespace (the
// NFNLGRP_NFTABLES multicast group, what `nft monitor` reads) and groups them into batches:
// every commit sends one notification per object or element it changed, then NEWGEN. The
// receipt time of a batch's first notification is when the bench learns that the change is
// in the kernel (the notifications are sent from the commit, after the new generation is
// live).
//
// Note: the kernel only builds notifications when someone listens, so an open monitor
// makes every commit a little dearer (one skb per object); the bench closes it for the
// cold start and the CPU figure.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

struct nlmsghdr;
struct mnl_socket;

namespace bench {

using Clock = std::chrono::steady_clock;
using KeyBytes = std::vector<std::uint8_t>;

struct NftBatch {
  Clock::time_point first{};  // receipt of the batch's first notification
  Clock::time_point end{};    // receipt of its NEWGEN
  std::size_t messages = 0;   // notifications, NEWGEN included
  // Elements by set or map name (the start piece of an interval element is its key).
  std::map<std::string, std::set<KeyBytes>> added, deleted;
  std::set<std::string> chains_added, chains_deleted, sets_added, sets_deleted;
  std::size_t rules_added = 0, rules_deleted = 0;
};

class NftMonitor {
 public:
  // Subscribes in the calling thread's network namespace and starts reading. Throws
  // std::runtime_error if the socket cannot be opened.
  NftMonitor();
  ~NftMonitor();
  NftMonitor(const NftMonitor&) = delete;
  NftMonitor& operator=(const NftMonitor&) = delete;

  // The next complete batch, or nothing by `deadline`.
  std::optional<NftBatch> next(Clock::time_point deadline);
  // Drops the batches received so far.
  void clear();
  // Times the receive buffer overflowed (notifications lost).
  std::size_t overruns() const { return overruns_; }

 private:
  void run();
  void handle(const nlmsghdr* nlh, Clock::time_point at);

  mnl_socket* socket_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> overruns_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<NftBatch> done_;
  NftBatch current_;   // reader thread only
  bool open_ = false;  // reader thread only: current_ has notifications
  std::thread thread_;
};

}  // namespace bench
