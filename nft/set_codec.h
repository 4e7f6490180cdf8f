// Sets and set elements <-> libnftnl objects, encoded the way nft(8) 1.0.x encodes them,
// so that `nft list` shows our sets exactly as if `nft -f render(program)` had made them.
//
// Elements travel as "pieces", one nftnl_set_elem each:
//  - plain sets and maps: one piece, the key (and the verdict of a map element);
//  - single-field interval sets (the kernel's rbtree): a start piece and an end piece
//    flagged NFT_SET_ELEM_INTERVAL_END whose key is the EXCLUSIVE end (last + 1); a range
//    reaching the top of the key space has no end piece and is marked "open" in the
//    element's userdata, as nft marks it. nft also sends a leading end piece at 0 when it
//    fills an empty set; we never do (the kernel does not need it, and sending it twice
//    with NLM_F_EXCL fails with EEXIST), but the decoder skips one if nft put it there;
//  - concatenated interval sets (pipapo): one piece with NFTA_SET_ELEM_KEY_END holding
//    the INCLUSIVE end (equal to the key for a single value).
// The decoder turns the kernel's pieces back into the Program's canonical elements
// (inclusive key_end, absent for a single value).
//
// Internal to nft/; the public API is batch_builder.h and kernel_netlink.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nft/nftnl_handles.h"
#include "nft/program.h"

namespace nft::codec {

// nft's datatype ids (nftables include/datatype.h), stored in NFTA_SET_KEY_TYPE; a
// concatenation stores (t1 << 6 | t2) << 6 | t3 ...
inline constexpr std::uint32_t kTypeIpv4Addr = 7;
inline constexpr std::uint32_t kTypeIpv6Addr = 8;
inline constexpr std::uint32_t kTypeInetProto = 12;
inline constexpr std::uint32_t kTypeInetService = 13;
inline constexpr std::uint32_t kTypeBits = 6;

// The name nft gives an anonymous set; the kernel replaces %d by a number.
inline constexpr std::string_view kAnonymousSetName = "__set%d";

std::uint32_t key_type_id(const std::vector<KeyType>& key);

// Fills a NEWSET object (everything but the header): name, flags, key, data, id, the
// concatenation's field lengths, and nft's userdata.
void encode_set(nftnl_set* set, std::string_view table, const std::string& name,
                const SetType& type, std::uint32_t id);
// The constant anonymous set nft creates for `meta l4proto { tcp, udp }`.
void encode_l4proto_set(nftnl_set* set, std::string_view table, std::size_t size, std::uint32_t id);

// What a dumped set is. Errors (Errc::conflict) for sets nft-policy never creates
// (timeouts, object maps, unknown key types, ...). Anonymous sets are reported as such.
struct DecodedSet {
  std::string name;
  SetType type;
  bool anonymous = false;
};
Result<DecodedSet> decode_set(const nftnl_set* set);

struct ElementPiece {
  Bytes key;
  std::optional<Bytes> key_end;  // pipapo only: inclusive
  bool interval_end = false;     // rbtree end piece: key is exclusive
  bool open = false;             // rbtree start piece of a range up to the top
  std::optional<Verdict> verdict;

  bool operator==(const ElementPiece&) const = default;
};

// The pieces of one element; deleting sends the same pieces without the verdict.
std::vector<ElementPiece> to_pieces(const SetType& type, const Element& element, bool with_verdict);
void encode_piece(nftnl_set_elem* elem, const ElementPiece& piece);
Result<ElementPiece> decode_piece(nftnl_set_elem* elem);
// The elements the pieces of one set (or of one operation) stand for, in canonical form.
// Pieces of a deletion carry no verdicts (with_verdicts = false). Single-field interval
// sets: a piece that occurs twice is used once and counted in `*repeated` (if given);
// other sets return every piece's element, repeats included (the caller's std::set
// merges them).
Result<std::vector<Element>> from_pieces(const SetType& type, std::vector<ElementPiece> pieces,
                                         bool with_verdicts = true,
                                         std::size_t* repeated = nullptr);

}  // namespace nft::codec
