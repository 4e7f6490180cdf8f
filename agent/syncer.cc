#include "agent/syncer.h"

#include <utility>

#include "nft/canonical.h"
#include "nft/diff.h"
#include "nft/render.h"

namespace agent {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::microseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t);
}

std::size_t element_count(const nft::Transaction& tx) {
  std::size_t n = 0;
  for (const auto& op : tx.ops) {
    if (const auto* a = std::get_if<nft::op::AddElements>(&op)) n += a->elements.size();
    if (const auto* d = std::get_if<nft::op::DeleteElements>(&op)) n += d->elements.size();
  }
  return n;
}

constexpr int kAttempts = 4;

}  // namespace

// Reads our table back into current_. A table holding what we did not write is replaced
// whole: `prefix` then deletes it in the same batch that re-creates it.
nft::Status Syncer::read_back(const std::string& table, SyncReport& report,
                              nft::Transaction& prefix) {
  report.read_back = true;
  auto dumped = netlink_.dump(table);
  auto believed = std::exchange(believed_, std::nullopt);
  if (dumped.is_ok()) {
    current_ = std::move(dumped).value();
    report.drift = believed && *believed != *current_;
    return nft::Status::ok();
  }
  report.drift = believed.has_value();
  if (dumped.error().code != nft::Errc::conflict) return dumped.status();
  // Foreign content (or a table we cannot decode): start from nothing, atomically.
  report.repaired = true;
  prefix.ops.push_back(nft::op::DeleteTable{});
  current_ = nft::Program{.table = table};
  return nft::Status::ok();
}

nft::Result<SyncReport> Syncer::sync(nft::Program desired, bool render) {
  // Compare with what a read-back yields; the compiler emits canonical rules already.
  if (!nft::is_canonical(desired)) desired = nft::canonical(desired);
  SyncReport report;
  nft::Status last = nft::Status::ok();
  for (report.attempts = 1; report.attempts <= kAttempts; ++report.attempts) {
    const auto t0 = Clock::now();
    nft::Transaction tx;
    tx.table = desired.table;
    if (!current_) {
      if (auto st = read_back(desired.table, report, tx); !st) return st.error();
    }
    nft::Transaction planned = nft::diff(*current_, desired);
    for (auto& op : planned.ops) tx.ops.push_back(std::move(op));
    report.plan += since(t0);
    report.ops = tx.ops.size();
    report.elements = element_count(tx);
    if (tx.empty()) return report;
    if (render) report.transaction = nft::render(tx);
    const auto t1 = Clock::now();
    last = netlink_.apply(tx);
    report.apply += since(t1);
    if (last) {
      report.previous = std::exchange(*current_, std::move(desired));
      return report;
    }
    // Nothing was applied (one atomic batch). Read back and plan again if someone else
    // changed the ruleset; any other refusal is final.
    current_.reset();
    if (last.error().code != nft::Errc::conflict) break;
  }
  return last.error();
}

nft::Result<SyncReport> Syncer::apply_elements(const nft::Transaction& tx, bool render) {
  SyncReport report;
  report.attempts = 1;
  report.ops = tx.ops.size();
  report.elements = element_count(tx);
  if (!current_ || !tx.only_elements()) {
    current_.reset();
    return nft::make_error(nft::Errc::invalid, "a patch needs a known table and element ops only");
  }
  if (tx.empty()) return report;
  if (render) report.transaction = nft::render(tx);
  const auto t0 = Clock::now();
  auto st = netlink_.apply(tx);
  report.apply = since(t0);
  if (!st || !nft::apply_elements(*current_, tx)) {
    current_.reset();
    if (!st) return st.error();
    return nft::make_error(nft::Errc::invalid, "the patch names a set the table does not have");
  }
  return report;
}

}  // namespace agent
