#include "conntrack/revoker.h"

#include <optional>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace conntrack {
namespace {

using Clock = std::chrono::steady_clock;
using common::Family;
using common::IpAddr;

std::chrono::microseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t);
}

// FNV-1a over the bytes of a few values, for the hash containers below.
struct Hasher {
  std::uint64_t h = 0xcbf29ce484222325ull;
  template <class T>
  Hasher& add(const T& value) {
    const auto* p = reinterpret_cast<const unsigned char*>(&value);
    for (std::size_t i = 0; i < sizeof value; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    return *this;
  }
  Hasher& add(const IpAddr& a) { return add(a.bytes); }
};

// What the dedup of entries seen in several dumps keys on.
using Key = std::tuple<std::uint32_t, std::uint16_t, std::uint8_t, Tuple, Icmp>;
Key key_of(const Entry& e) {
  return {e.id, e.zone, e.l4proto, e.orig, e.icmp};
}
struct KeyHash {
  std::size_t operator()(const Key& k) const {
    const Tuple& t = std::get<3>(k);
    return Hasher{}.add(std::get<0>(k)).add(t.src).add(t.dst).add(t.sport).add(t.dport).h;
  }
};

// Per-address dumps for `wanted`, or whole families when the table cannot filter a family
// by address or when there would be too many dumps; plus `extra` (another kernel-filtered
// dump, one more walk) unless the whole table is dumped anyway.
std::vector<DumpFilter> plan(const std::vector<std::pair<Field, IpAddr>>& wanted,
                             const Table& table, const RevokeOptions& options,
                             const std::optional<DumpFilter>& extra = std::nullopt) {
  std::vector<DumpFilter> per_address;
  std::set<Family> whole;
  for (const auto& [field, addr] : wanted) {
    if (table.filters_addresses(addr.family)) {
      per_address.push_back(DumpFilter::of(field, addr));
    } else {
      whole.insert(addr.family);
    }
  }
  const std::size_t more = extra ? 1 : 0;
  if (per_address.size() + whole.size() + more > options.max_filtered_dumps) {
    for (const DumpFilter& f : per_address) whole.insert(*f.family);
    per_address.clear();
  }
  std::vector<DumpFilter> out;
  if (whole.size() == 2) return {DumpFilter{}};
  const auto size = table.size_hint();
  if (per_address.size() + whole.size() + more > 1 && size && *size < options.whole_table_below) {
    return {DumpFilter{}};
  }
  for (Family f : whole) out.push_back(DumpFilter{.family = f});
  for (const DumpFilter& f : per_address) {
    if (!whole.count(*f.family)) out.push_back(f);
  }
  if (extra) out.push_back(*extra);
  return out;
}

// Runs the dumps, handing each distinct entry to `visit` once.
Status run_dumps(Table& table, const std::vector<DumpFilter>& dumps, RevokeReport& report,
                 const std::function<void(const Entry&)>& visit) {
  std::unordered_set<Key, KeyHash> seen;
  for (const DumpFilter& filter : dumps) {
    ++report.dumps;
    report.whole_families = report.whole_families || (!filter.address && filter.mark_mask == 0);
    Status s = table.dump(filter, [&](const Entry& e) {
      // An entry can only come twice from two dumps (both ends in the scope).
      if (dumps.size() == 1 || seen.insert(key_of(e)).second) {
        ++report.examined;
        visit(e);
      }
    });
    if (!s) return s;
  }
  return Status::ok();
}

Status delete_all(Table& table, const std::vector<Entry>& victims, RevokeReport& report) {
  const Clock::time_point start = Clock::now();
  report.denied = victims.size();
  if (!victims.empty()) {
    auto removed = table.remove(victims);
    if (!removed) return removed.status();
    report.deleted = removed.value();
  }
  report.delete_time = since(start);
  return Status::ok();
}

// What a revocation does with the entries it judged.
struct Verdicts {
  std::vector<Entry> remove;      // denied: deleted
  std::vector<Entry> quarantine;  // denied, not TCP, not marked yet: marked
  std::vector<Entry> release;     // allowed, marked: the mark cleared
  std::size_t kept = 0;           // denied, in quarantine already: left so

  void add(const Entry& e, bool allowed, std::uint32_t bit) {
    const bool marked = bit != 0 && (e.mark & bit) == bit;
    if (allowed) {
      if (marked) release.push_back(e);
    } else if (bit == 0 || e.l4proto == kProtoTcp) {
      // The mid-stream guard keeps a deleted TCP connection dead.
      remove.push_back(e);
    } else if (marked) {
      ++kept;
    } else {
      quarantine.push_back(e);
    }
  }
};

Status carry_out(Table& table, const Verdicts& v, std::uint32_t bit, RevokeReport& report) {
  const Clock::time_point start = Clock::now();
  report.denied = v.remove.size() + v.quarantine.size() + v.kept;
  auto count = [](Result<std::size_t> r, std::size_t& into) {
    if (r) into = r.value();
    return r.status();
  };
  Status s = Status::ok();
  if (!v.remove.empty()) s = count(table.remove(v.remove), report.deleted);
  if (s && !v.quarantine.empty()) {
    s = count(table.change_mark(v.quarantine, MarkChange::set(bit)), report.quarantined);
  }
  if (s && !v.release.empty()) {
    s = count(table.change_mark(v.release, MarkChange::clear(bit)), report.released);
  }
  report.in_quarantine = v.kept + report.quarantined;
  report.delete_time = since(start);
  return s;
}

// What allowed() looks at: the first packet's addresses, protocol, port and state.
using Verdict = std::tuple<IpAddr, IpAddr, std::uint8_t, std::uint16_t, bool>;
Verdict verdict_key(const Entry& e) {
  return {e.orig.src, e.destination(), e.l4proto, has_ports(e.l4proto) ? e.destination_port() : 0,
          (e.status & kStatusExpected) != 0};
}
struct VerdictHash {
  std::size_t operator()(const Verdict& v) const {
    return Hasher{}
        .add(std::get<0>(v))
        .add(std::get<1>(v))
        .add(std::get<2>(v))
        .add(std::get<3>(v))
        .add(std::get<4>(v))
        .h;
  }
};

bool touches(const Entry& e, const std::set<IpAddr>& addresses) {
  return addresses.count(e.orig.src) || addresses.count(e.orig.dst) ||
         addresses.count(e.reply.src) || addresses.count(e.reply.dst);
}

}  // namespace

compiler::Packet first_packet(const Entry& entry, nft::Hook hook, const NodeAddresses& local) {
  std::optional<std::uint16_t> dport;
  if (has_ports(entry.l4proto)) dport = entry.destination_port();
  return compiler::Packet{
      .hook = hook,
      .saddr = entry.orig.src,
      .daddr = entry.destination(),
      .l4proto = entry.l4proto,
      .dport = dport,
      // An expected flow (FTP data, …) began as `related`, which the program accepts
      // with established traffic: it lives and dies with its master connection.
      .ct_state = (entry.status & kStatusExpected) != 0 ? nft::kCtRelated : nft::kCtNew,
      // Whatever the entry carries now (the quarantine bit), its first packet had no mark.
      .ct_mark = 0,
      .tcp_flags = nft::kTcpSyn,
      .saddr_local = local.contains(entry.orig.src),
      .daddr_local = local.contains(entry.destination())};
}

bool allowed(const nft::Program& program, const Entry& entry, const NodeAddresses& local) {
  const bool from_node = local.contains(entry.orig.src);
  const bool to_node = local.contains(entry.destination());
  std::vector<nft::Hook> hooks;
  if (from_node) hooks.push_back(nft::Hook::output);
  if (to_node) hooks.push_back(nft::Hook::input);
  if (hooks.empty()) hooks.push_back(nft::Hook::forward);
  for (nft::Hook hook : hooks) {
    if (!compiler::run(program, first_packet(entry, hook, local)).accepted) return false;
  }
  return true;
}

std::vector<DumpFilter> plan_dumps(const Scope& scope, const Table& table,
                                   const RevokeOptions& options) {
  if (scope.everything) return {DumpFilter{}};
  if (scope.empty()) return {};
  std::vector<std::pair<Field, IpAddr>> wanted;
  for (const IpAddr& a : scope.sources) wanted.emplace_back(Field::orig_src, a);
  for (const IpAddr& a : scope.destinations) wanted.emplace_back(Field::reply_src, a);
  std::optional<DumpFilter> quarantined;
  if (const std::uint32_t bit = options.quarantine_mark; bit != 0 && options.find_quarantined) {
    quarantined = DumpFilter{.mark = bit, .mark_mask = bit};
  }
  return plan(wanted, table, options, quarantined);
}

namespace {

// Judges every entry `dumps` return by `program`, then deletes, quarantines or releases.
Result<RevokeReport> judge_and_cut(const nft::Program& program, Table& table,
                                   const std::vector<DumpFilter>& dumps, const NodeAddresses& local,
                                   const RevokeOptions& options) {
  const Clock::time_point start = Clock::now();
  RevokeReport report;
  Verdicts verdicts;
  // The verdict depends on the first packet only: entries that differ by their source port
  // alone (most of a table) are judged once. The first packet carries no mark: an entry in
  // quarantine is judged by the policy, never by the quarantine rule.
  std::unordered_map<Verdict, bool, VerdictHash> memo;
  Status s = run_dumps(table, dumps, report, [&](const Entry& e) {
    auto [it, fresh] = memo.try_emplace(verdict_key(e), false);
    if (fresh) it->second = allowed(program, e, local);
    verdicts.add(e, it->second, options.quarantine_mark);
  });
  report.dump_time = since(start);
  if (!s) return s.error();
  if (Status d = carry_out(table, verdicts, options.quarantine_mark, report); !d) {
    return d.error();
  }
  report.time = since(start);
  return report;
}

}  // namespace

Result<RevokeReport> revoke(const nft::Program& program, Table& table, const Scope& scope,
                            const NodeAddresses& local, const RevokeOptions& options) {
  return judge_and_cut(program, table, plan_dumps(scope, table, options), local, options);
}

Result<RevokeReport> release_quarantined(const nft::Program& program, Table& table,
                                         const NodeAddresses& local, const RevokeOptions& options) {
  const std::uint32_t bit = options.quarantine_mark;
  if (bit == 0) return RevokeReport{};
  return judge_and_cut(program, table, {DumpFilter{.mark = bit, .mark_mask = bit}}, local, options);
}

Result<RevokeReport> remove_addresses(Table& table, const std::set<IpAddr>& addresses,
                                      const RevokeOptions& options) {
  const Clock::time_point start = Clock::now();
  RevokeReport report;
  std::vector<std::pair<Field, IpAddr>> wanted;
  for (const IpAddr& a : addresses) {
    for (Field f : {Field::orig_src, Field::orig_dst, Field::reply_src, Field::reply_dst}) {
      wanted.emplace_back(f, a);
    }
  }
  std::vector<Entry> victims;
  Status s = run_dumps(table, plan(wanted, table, options), report, [&](const Entry& e) {
    if (touches(e, addresses)) victims.push_back(e);
  });
  report.dump_time = since(start);
  if (!s) return s.error();
  if (Status d = delete_all(table, victims, report); !d) return d.error();
  report.time = since(start);
  return report;
}

}  // namespace conntrack
