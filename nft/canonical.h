// The canonical form of rules: what reading a rule back from the kernel yields.
//
// nft(8) omits a protocol dependency that the rule has already established, and we
// encode exactly like nft (so `nft list` shows the same thing). As a consequence an
// explicit match that only restates the dependency of the match right after it cannot
// be told apart from the dependency itself in the kernel:
//   `meta nfproto ipv4 ip saddr @s`          ==  `ip saddr @s`
//   `meta nfproto ipv6 ip6 daddr vmap @m`    ==  `ip6 daddr vmap @m`   (no counter between)
//   `meta l4proto tcp tcp flags & syn == syn` ==  `tcp flags & syn == syn`
// The second form is the canonical one: canonical() drops such redundant matches, which
// never changes what a rule matches. Programs whose rules are canonical read back `==`
// to what was applied; for others `dump(apply(p)) == canonical(p)`. The compiler should
// emit canonical rules (or diff canonical(desired) against a dump) so that a read-back
// does not look like drift.
#pragma once

#include "nft/program.h"

namespace nft {

Rule canonical(Rule rule);
Program canonical(Program program);
bool is_canonical(const Program& program);

}  // namespace nft
