// A userspace model of how the kernel runs a packet through an nft::Program: the third
// implementation of our semantics (with the evaluator and the kernel itself). It knows only
// the rule vocabulary of nft/rule.h, and follows the kernel's rules for verdicts: `accept`
// and `drop` end the hook, `return` (or the end of a regular chain) goes back to the rule
// after the jump, the end of a base chain applies its policy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "nft/program.h"

namespace compiler {

struct Packet {
  nft::Hook hook = nft::Hook::forward;
  common::IpAddr saddr;
  common::IpAddr daddr;  // after DNAT, as the forward hook sees it
  std::uint8_t l4proto = 6;
  std::optional<std::uint16_t> dport;  // absent: no transport header
  std::uint32_t ct_state = nft::kCtNew;
  std::uint32_t ct_mark = 0;  // the connection's mark (0: none, or no entry)
  std::uint8_t tcp_flags = nft::kTcpSyn;
  std::string iifname;
  std::string oifname;
  bool saddr_local = false;  // what `fib saddr type local` says
  bool daddr_local = false;
};

struct Outcome {
  bool accepted = true;
  // When asked for: "chain#rule: <rule> -> verdict" for every rule that matched.
  std::vector<std::string> trace;
};

Outcome run(const nft::Program& program, const Packet& packet, bool trace = false);

// Whether `key` (full key bytes of the set's type) is in `set`, intervals included; for a
// verdict map, the element found.
const nft::Element* lookup(const nft::Set& set, const nft::Bytes& key);

}  // namespace compiler
