// Hand-written programs and shorthands shared by the nft tests.
#pragma once

#include <string_view>

#include "nft/program.h"

namespace nft::testing {

// Parse-or-abort shorthands for literals in tests.
Element v4(std::string_view address);
Element v6(std::string_view address);
Element cidr(std::string_view prefix);
Element range(std::string_view first, std::string_view last);

SetType addr_type(KeyType type, bool interval = false);
SetType map_type(KeyType type);
SetType proto_port_type(bool interval);

Rule rule(std::vector<Match> matches, Statement statement);

// A small node program in the shape DESIGN.md recommends: base chains with
// `ct state established,related accept`, verdict-map dispatch to pod chains, peer
// sets with prefixes and ranges, a proto.port interval set with a range.
Program small_program();

}  // namespace nft::testing
