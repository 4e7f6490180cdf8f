// Rendering to `nft` syntax: for logs, golden tests and `nft -c -f` checks. Never used
// to program the kernel on the hot path (see PERFORMANCE.md: shelling out to nft costs
// more than the change). Output is deterministic: same value, same bytes.
#pragma once

#include <span>
#include <string>

#include "nft/program.h"
#include "nft/transaction.h"

namespace nft {

// The whole table as an `nft -f` file: `table inet <name> { set … map … chain … }`.
std::string render(const Program& program);

// The transaction as an `nft -f` script, one command per line, in order (`nft -f`
// sends a file as one atomic batch, like we do):
//   add table inet nftpolicy
//   flush chain inet nftpolicy pod-a
//   delete element inet nftpolicy in4 { 10.0.0.7 }
//   create set inet nftpolicy peers-3 { type ipv4_addr; flags interval; }
//   create element inet nftpolicy peers-3 { 10.0.0.0/8 }
//   add rule inet nftpolicy pod-a ip saddr @peers-3 return
std::string render(const Transaction& transaction);

// One operation, without trailing newline.
std::string render_op(std::string_view table, const Op& op);

// A rule as it appears after `add rule inet t c `: `ip saddr @s counter return`.
std::string render_rule(const Rule& rule);
std::string render_verdict(const Verdict& verdict);

// "type ipv4_addr . inet_service : verdict" (without `flags`).
std::string render_set_type(const SetType& type);

// An element as it appears inside `elements = { … }`: "10.0.0.0/8", "tcp . 80-90",
// "10.0.0.1 : jump pod-x". Keys of the wrong size render as hex ("0x0a00").
std::string render_element(const SetType& type, const Element& element);
// The key part only (no verdict), used by `delete element`.
std::string render_element_key(const SetType& type, const Element& element);

std::string_view to_string(Hook hook);
std::string_view to_string(ChainPolicy policy);
// "type filter hook forward priority filter; policy accept;"
std::string render_base_chain(const BaseChain& base);

}  // namespace nft
