#include "agent/conntrack_cutter.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>

#include "conntrack/scope.h"

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

conntrack::Result<std::unique_ptr<ConntrackCutter>> ConntrackCutter::open() {
  auto table = conntrack::KernelTable::open();
  if (!table) return table.error();
  return std::unique_ptr<ConntrackCutter>(new ConntrackCutter(std::move(table).value()));
}

ConnectionCutter::Report ConntrackCutter::after_change(const Change& change) {
  Report out;
  const auto& released = change.released;
  // The node's addresses decide the hook a flow crosses (input, output or forward); read
  // them each time, they may change.
  const auto local = node_addresses();
  const auto scope = change.addresses ? conntrack::Scope::of(*change.addresses)
                     : change.before  ? conntrack::scope_of_change(*change.before, *change.after)
                                      : conntrack::Scope::all();
  if (!scope.empty()) {
    auto r = conntrack::revoke(*change.after, *table_, scope, local);
    if (r) {
      out.examined += r.value().examined;
      out.deleted += r.value().deleted;
      out.time += r.value().time;
    } else {
      out.error = "revoking denied connections: " + r.error().to_string();
    }
  }
  if (!released.empty()) {
    auto r = conntrack::remove_addresses(
        *table_, std::set<common::IpAddr>(released.begin(), released.end()));
    if (r) {
      out.examined += r.value().examined;
      out.deleted += r.value().deleted;
      out.time += r.value().time;
    } else {
      out.error += (out.error.empty() ? "" : "; ") +
                   std::string("deleting connections of released IPs: ") + r.error().to_string();
    }
  }
  return out;
}

}  // namespace agent
