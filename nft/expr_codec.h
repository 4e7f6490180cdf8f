// Rules <-> nf_tables expressions, the way nft(8) 1.0.x linearizes the rendered text
// (`nft --debug=netlink` shows it), and back.
//
//   ct state a,b            ct load state; bitwise &(a|b); cmp neq 0
//   ct state != a,b         ct load state; cmp neq (a|b)          (nft's encoding, see README)
//   meta nfproto ipv4       meta load nfproto; cmp eq 2
//   meta l4proto tcp        meta load l4proto; cmp eq|neq 6
//   meta l4proto { a, b }   anonymous constant set; meta load l4proto; lookup [inv]
//   ip saddr @s             [meta nfproto ipv4 dependency]; payload nh+12 4b; lookup [inv]
//   meta l4proto . th dport @s   meta load l4proto => r1; [byteorder hton r1 (interval
//                           sets only, a no-op nft emits)]; payload th+2 2b => r9; lookup
//   fib saddr type local    fib saddr type; cmp eq|neq 2
//   tcp flags & m == v      [meta l4proto tcp dependency]; payload th+13 1b; bitwise &m;
//                           cmp eq|neq v
//   ct mark & m == v        ct load mark; bitwise &m; cmp eq|neq v   (host byte order)
//   iifname "x"             meta load iifname; cmp eq|neq 16 bytes
//   counter                 counter
//   accept/drop/jump …      immediate verdict
//   ip daddr vmap @m        [dependency]; payload; lookup dreg verdict
//   comment "…"             rule userdata NFTNL_UDATA_RULE_COMMENT
// Like nft, a dependency (`meta nfproto`, `meta l4proto tcp`) is only emitted when the
// rule has not already established it; canonical.h describes what that means for
// round trips.
//
// Internal to nft/.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "nft/nftnl_handles.h"
#include "nft/rule.h"

namespace nft::codec {

struct RuleContext {
  // Whether the named set has `flags interval` (nft adds a byteorder expression in front
  // of the lookup of a concatenation into an interval set).
  std::function<bool(const std::string&)> interval_set;
  // NFTA_SET_ID of the anonymous set created for each multi-protocol L4protoMatch of the
  // rule, in order.
  std::vector<std::uint32_t> l4proto_set_ids;
};

void encode_rule(nftnl_rule* rule, std::string_view table, const std::string& chain,
                 const Rule& value, const RuleContext& context);

// The protocols of the anonymous set a lookup names (by kernel name, or by NFTA_SET_ID
// while it is still "__set%d" in a batch); nullptr if unknown.
using AnonymousSetResolver = std::function<const std::set<std::uint8_t>*(
    std::string_view name, std::optional<std::uint32_t> id)>;

// The Rule whose encoding this is; Errc::conflict (with the expressions as nft's debug
// output prints them) for anything encode_rule does not produce.
Result<Rule> decode_rule(const nftnl_rule* rule, const AnonymousSetResolver& anonymous);

// Number of multi-protocol L4protoMatches: the anonymous sets a rule needs.
std::size_t anonymous_sets_needed(const Rule& rule);

std::int32_t verdict_code(const Verdict& verdict);
std::optional<Verdict> verdict_from(std::int32_t code, const char* chain);

}  // namespace nft::codec
