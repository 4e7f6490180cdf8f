#include "agent/conntrack_cutter.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>
#include <utility>

namespace agent {

conntrack::NodeAddresses node_addresses() {
  conntrack::NodeAddresses out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (const ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    common::IpAddr a;
    if (i->ifa_addr->sa_family == AF_INET) {
      a.family = common::Family::kV4;
      const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      std::memcpy(a.bytes.data(), &sin->sin_addr, 4);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      a.family = common::Family::kV6;
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      std::memcpy(a.bytes.data(), &sin6->sin6_addr, 16);
    } else {
      continue;
    }
    out.addresses.insert(a);
  }
  ::freeifaddrs(list);
  return out;
}

conntrack::Result<std::unique_ptr<ConntrackCutter>> ConntrackCutter::open(
    std::uint32_t quarantine_mark) {
  auto table = conntrack::KernelTable::open();
  if (!table) return table.error();
  return std::make_unique<ConntrackCutter>(std::move(table).value(), quarantine_mark);
}

void ConntrackCutter::note(const Change& change) {
  const auto scope = change.addresses ? conntrack::Scope::of(*change.addresses)
                     : change.before  ? conntrack::scope_of_change(*change.before, *change.after)
                                      : conntrack::Scope::all();
  // A change that denies nothing new may still allow a flow in quarantine again: the entry
  // keeps living while its client sends, so it must be released, not left to time out.
  if (scope.empty() && quarantine_may_exist_ && quarantine_mark_ != 0) recheck_ = true;
  scope_.merge(scope);
  released_.insert(change.released.begin(), change.released.end());
}

ConnectionCutter::Report ConntrackCutter::cut(const nft::Program& current) {
  Report out;
  const auto scope = std::exchange(scope_, conntrack::Scope{});
  const auto released = std::exchange(released_, {});
  const bool recheck = std::exchange(recheck_, false);
  // The node's addresses decide the hook a flow crosses (input, output or forward); read
  // them each time, they may change.
  const auto local = node_addresses();
  // Whether each part succeeded; what failed is kept for the next attempt.
  auto add = [&](const conntrack::Result<conntrack::RevokeReport>& r, const char* what) {
    if (r) {
      out.examined += r.value().examined;
      out.deleted += r.value().deleted + r.value().quarantined;
      out.time += r.value().time;
      return true;
    }
    out.error += (out.error.empty() ? "" : "; ") + std::string(what) + r.error().to_string();
    return false;
  };
  if (!scope.empty()) {
    auto r = conntrack::revoke(
        current, *table_, scope, local,
        {.quarantine_mark = quarantine_mark_, .find_quarantined = quarantine_may_exist_});
    // Complete when looked for, and when none could exist before; unknown after a failure.
    quarantine_may_exist_ = !r || r.value().in_quarantine > 0;
    if (!add(r, "revoking: ")) scope_.merge(scope);
  } else if (recheck && quarantine_may_exist_) {
    auto r = conntrack::release_quarantined(current, *table_, local,
                                            {.quarantine_mark = quarantine_mark_});
    quarantine_may_exist_ = !r || r.value().in_quarantine > 0;
    if (!add(r, "releasing: ")) recheck_ = true;
  }
  if (!released.empty() &&
      !add(conntrack::remove_addresses(*table_, released), "deleting flows of released IPs: ")) {
    released_.insert(released.begin(), released.end());
  }
  return out;
}

}  // namespace agent
