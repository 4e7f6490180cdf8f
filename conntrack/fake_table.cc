#include "conntrack/fake_table.h"

#include <algorithm>

namespace conntrack {

Status FakeTable::insert(Entry entry) {
  for (const Entry& e : entries_) {
    if (e.same_connection(entry)) {
      return nft::make_error(nft::Errc::exists, "entry exists: " + to_string(entry));
    }
  }
  if (entry.id == 0) {
    entry.id = next_id_++;
  }
  entries_.push_back(std::move(entry));
  return Status::ok();
}

Status FakeTable::insert(const std::vector<Entry>& entries) {
  for (const Entry& e : entries) {
    if (Status s = insert(e); !s) {
      return s;
    }
  }
  return Status::ok();
}

Status FakeTable::dump(const DumpFilter& filter, const std::function<void(const Entry&)>& visit) {
  ++stats_.dumps;
  if (failing_dumps_ > 0) {
    --failing_dumps_;
    return nft::make_error(nft::Errc::io, "dump: No buffer space available (injected)");
  }
  // Like the kernel, hand out a snapshot: the caller may not change the table meanwhile,
  // but copying keeps a misbehaving visitor from invalidating the iteration.
  const std::vector<Entry> snapshot = entries_;
  for (const Entry& e : snapshot) {
    const bool kernel_filters = !filter.address || filters_addresses(filter.address->addr.family);
    DumpFilter in_kernel = filter;
    if (!kernel_filters) {
      in_kernel.address.reset();
    }
    if (!in_kernel.matches(e)) {
      continue;
    }
    ++stats_.entries_received;
    if (filter.matches(e)) {
      ++stats_.entries_visited;
      visit(e);
    }
  }
  return Status::ok();
}

Result<std::size_t> FakeTable::remove(const std::vector<Entry>& entries) {
  std::size_t removed = 0;
  for (const Entry& victim : entries) {
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
      return e.same_connection(victim) && (victim.id == 0 || e.id == victim.id);
    });
    if (it == entries_.end()) {
      ++stats_.already_gone;
      continue;
    }
    entries_.erase(it);
    ++removed;
  }
  stats_.removed += removed;
  return removed;
}

Result<std::size_t> FakeTable::change_mark(const std::vector<Entry>& entries, MarkChange change) {
  std::size_t changed = 0;
  for (const Entry& target : entries) {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const Entry& e) { return e.same_connection(target); });
    if (it == entries_.end()) {
      ++stats_.already_gone;
      continue;
    }
    it->mark = change.applied_to(it->mark);
    ++changed;
  }
  stats_.marked += changed;
  return changed;
}

bool FakeTable::filters_addresses(common::Family family) const {
  return family == common::Family::kV4 ? filters_v4_ : filters_v6_;
}

void FakeTable::set_filters_addresses(common::Family family, bool filters) {
  (family == common::Family::kV4 ? filters_v4_ : filters_v6_) = filters;
}

}  // namespace conntrack
