#include "nft/set_codec.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>

#include "nft/expr_codec.h"

namespace nft::codec {
namespace {

// nft's byteorder values in set userdata (nftables include/expression.h).
constexpr std::uint32_t kByteorderInvalid = 0;
constexpr std::uint32_t kByteorderHost = 1;
constexpr std::uint32_t kByteorderBig = 2;
// nft's expression types recorded in NFTNL_UDATA_SET_KEY_TYPEOF.
constexpr std::uint32_t kExprMeta = 9;
constexpr std::uint32_t kExprConcat = 13;
// NFTNL_UDATA_SET_ELEM_FLAGS bit: the range runs to the top of the key space.
constexpr std::uint32_t kElemIntervalOpen = 1;
constexpr std::uint32_t kAnonymousFlags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT;
constexpr std::uint32_t kKnownFlags =
    kAnonymousFlags | NFT_SET_INTERVAL | NFT_SET_MAP | NFT_SET_CONCAT;

Error foreign(const std::string& what) {
  return make_error(Errc::conflict, what + " (not written by nftpolicy)");
}

std::uint32_t type_id(KeyType type) {
  switch (type) {
    case KeyType::ipv4_addr:
      return kTypeIpv4Addr;
    case KeyType::ipv6_addr:
      return kTypeIpv6Addr;
    case KeyType::inet_proto:
      return kTypeInetProto;
    case KeyType::inet_service:
      return kTypeInetService;
  }
  return 0;
}

std::optional<KeyType> key_type_of(std::uint32_t id) {
  switch (id) {
    case kTypeIpv4Addr:
      return KeyType::ipv4_addr;
    case kTypeIpv6Addr:
      return KeyType::ipv6_addr;
    case kTypeInetProto:
      return KeyType::inet_proto;
    case kTypeInetService:
      return KeyType::inet_service;
    default:
      return std::nullopt;
  }
}

std::uint32_t flags_of(const SetType& type) {
  std::uint32_t flags = 0;
  if (type.interval) {
    flags |= NFT_SET_INTERVAL;
  }
  if (type.verdict_map) {
    flags |= NFT_SET_MAP;
  }
  if (type.interval && type.key.size() > 1) {
    flags |= NFT_SET_CONCAT;  // nft sets it for concatenated ranges only (pipapo)
  }
  return flags;
}

// What nft 1.0.x records in a set's userdata for `type <datatypes> [: verdict]`.
void put_set_userdata(nftnl_set* set, const SetType& type) {
  nl::UdataPtr buf(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
  bool big = type.key.size() == 1 && type.key[0] != KeyType::inet_proto;
  nftnl_udata_put_u32(buf.get(), NFTNL_UDATA_SET_KEYBYTEORDER,
                      big ? kByteorderBig : kByteorderInvalid);
  if (type.verdict_map) {
    nftnl_udata_put_u32(buf.get(), NFTNL_UDATA_SET_DATABYTEORDER, kByteorderInvalid);
  }
  if (type.key.size() > 1) {
    nftnl_udata* nest = nftnl_udata_nest_start(buf.get(), NFTNL_UDATA_SET_KEY_TYPEOF);
    nftnl_udata_put_u32(buf.get(), NFTNL_UDATA_SET_TYPEOF_EXPR, kExprConcat);
    nftnl_udata* data = nftnl_udata_nest_start(buf.get(), NFTNL_UDATA_SET_TYPEOF_DATA);
    nftnl_udata_nest_end(buf.get(), data);
    nftnl_udata_nest_end(buf.get(), nest);
  }
  if (type.verdict_map) {
    nftnl_udata_put_u32(buf.get(), NFTNL_UDATA_SET_DATA_INTERVAL, 0);
  }
  nftnl_set_set_data(set, NFTNL_SET_USERDATA, nftnl_udata_buf_data(buf.get()),
                     nftnl_udata_buf_len(buf.get()));
}

void put_l4proto_userdata(nftnl_set* set) {
  nl::UdataPtr buf(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
  nftnl_udata_put_u32(buf.get(), NFTNL_UDATA_SET_KEYBYTEORDER, kByteorderHost);
  nftnl_udata* nest = nftnl_udata_nest_start(buf.get(), NFTNL_UDATA_SET_KEY_TYPEOF);
  nftnl_udata_put_u32(buf.get(), NFTNL_UDATA_SET_TYPEOF_EXPR, kExprMeta);
  nftnl_udata* data = nftnl_udata_nest_start(buf.get(), NFTNL_UDATA_SET_TYPEOF_DATA);
  nftnl_udata_put_u32(buf.get(), 0, NFT_META_L4PROTO);
  nftnl_udata_nest_end(buf.get(), data);
  nftnl_udata_nest_end(buf.get(), nest);
  nftnl_set_set_data(set, NFTNL_SET_USERDATA, nftnl_udata_buf_data(buf.get()),
                     nftnl_udata_buf_len(buf.get()));
}

void put_common(nftnl_set* set, std::string_view table, const std::string& name, std::uint32_t id) {
  nftnl_set_set_str(set, NFTNL_SET_TABLE, std::string(table).c_str());
  nftnl_set_set_str(set, NFTNL_SET_NAME, name.c_str());
  nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_u32(set, NFTNL_SET_ID, id);
}

Result<std::vector<KeyType>> decode_key(std::uint32_t id, bool concat, std::uint32_t key_len) {
  std::vector<KeyType> key;
  do {
    auto field = key_type_of(id & ((1u << kTypeBits) - 1));
    if (!field) {
      return foreign("set key type " + std::to_string(id));
    }
    key.insert(key.begin(), *field);
    id >>= kTypeBits;
  } while (concat && id != 0);
  if (id != 0 || nft::key_length(key) != key_len) {
    return foreign("set key type/length " + std::to_string(id) + "/" + std::to_string(key_len));
  }
  return key;
}

// Bytes as a big-endian number: +1 / -1 in place; false on overflow / underflow.
bool increment(Bytes& bytes) {
  for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
    if (++*it != 0) {
      return true;
    }
  }
  return false;
}

bool decrement(Bytes& bytes) {
  for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
    if ((*it)-- != 0) {
      return true;
    }
  }
  return false;
}

Element make_element(Bytes key, Bytes last, std::optional<Verdict> verdict) {
  Element e{.key = std::move(key), .key_end = std::nullopt, .verdict = std::move(verdict)};
  if (last != e.key) {
    e.key_end = std::move(last);
  }
  return e;
}

// rbtree pieces: sort by key, an end before a start at the same key (adjacent ranges),
// then pair every start with the end that follows it. A piece seen twice is counted in
// `repeated` and used once.
Result<std::vector<Element>> from_rbtree(std::vector<ElementPiece> pieces, std::size_t& repeated) {
  std::sort(pieces.begin(), pieces.end(), [](const ElementPiece& a, const ElementPiece& b) {
    return a.key != b.key ? a.key < b.key : a.interval_end > b.interval_end;
  });
  std::vector<Element> out;
  out.reserve(pieces.size() / 2 + 1);
  const ElementPiece* start = nullptr;
  const ElementPiece* previous = nullptr;
  for (const ElementPiece& piece : pieces) {
    if (previous != nullptr && previous->key == piece.key &&
        previous->interval_end == piece.interval_end) {
      ++repeated;
      continue;
    }
    previous = &piece;
    if (!piece.interval_end) {
      if (start != nullptr) {
        return foreign("interval start without an end");
      }
      start = &piece;
      continue;
    }
    if (start == nullptr) {
      continue;  // nft's leading end piece at 0, or the end of a deleted range's neighbour
    }
    Bytes last = piece.key;
    if (!decrement(last) || last < start->key) {
      return foreign("empty interval");
    }
    out.push_back(make_element(start->key, std::move(last), start->verdict));
    start = nullptr;
  }
  if (start != nullptr) {
    // No end piece: the range runs to the top of the key space (nft marks it "open").
    out.push_back(make_element(start->key, Bytes(start->key.size(), 0xff), start->verdict));
  }
  return out;
}

}  // namespace

std::uint32_t key_type_id(const std::vector<KeyType>& key) {
  std::uint32_t id = 0;
  for (KeyType field : key) {
    id = (id << kTypeBits) | type_id(field);
  }
  return id;
}

void encode_set(nftnl_set* set, std::string_view table, const std::string& name,
                const SetType& type, std::uint32_t id) {
  put_common(set, table, name, id);
  nftnl_set_set_u32(set, NFTNL_SET_FLAGS, flags_of(type));
  nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, key_type_id(type.key));
  nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, static_cast<std::uint32_t>(type.key_length()));
  if (type.verdict_map) {
    nftnl_set_set_u32(set, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
    nftnl_set_set_u32(set, NFTNL_SET_DATA_LEN, 0);
  }
  if (type.interval && type.key.size() > 1) {
    // pipapo needs each field's real length (1 for inet_proto, not the padded 4).
    std::vector<std::uint8_t> lengths;
    for (KeyType field : type.key) {
      lengths.push_back(static_cast<std::uint8_t>(field_length(field)));
    }
    nftnl_set_set_data(set, NFTNL_SET_DESC_CONCAT, lengths.data(),
                       static_cast<std::uint32_t>(lengths.size()));
  }
  put_set_userdata(set, type);
}

void encode_l4proto_set(nftnl_set* set, std::string_view table, std::size_t size,
                        std::uint32_t id) {
  put_common(set, table, std::string(kAnonymousSetName), id);
  nftnl_set_set_u32(set, NFTNL_SET_FLAGS, kAnonymousFlags);
  nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, kTypeInetProto);
  nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, 1);
  nftnl_set_set_u32(set, NFTNL_SET_DESC_SIZE, static_cast<std::uint32_t>(size));
  put_l4proto_userdata(set);
}

Result<DecodedSet> decode_set(const nftnl_set* set) {
  DecodedSet out;
  const char* name = nftnl_set_get_str(set, NFTNL_SET_NAME);
  out.name = name != nullptr ? name : "";
  std::uint32_t flags = nftnl_set_get_u32(set, NFTNL_SET_FLAGS);
  if ((flags & ~kKnownFlags) != 0) {
    return foreign("set " + out.name + " flags " + std::to_string(flags));
  }
  out.anonymous = (flags & NFT_SET_ANONYMOUS) != 0;
  out.type.interval = (flags & NFT_SET_INTERVAL) != 0;
  out.type.verdict_map = (flags & NFT_SET_MAP) != 0;
  if (out.type.verdict_map && nftnl_set_get_u32(set, NFTNL_SET_DATA_TYPE) != NFT_DATA_VERDICT) {
    return foreign("map " + out.name + " with non-verdict data");
  }
  bool concat = (flags & NFT_SET_CONCAT) != 0 ||
                nftnl_set_get_u32(set, NFTNL_SET_KEY_TYPE) >= (1u << kTypeBits);
  auto key = decode_key(nftnl_set_get_u32(set, NFTNL_SET_KEY_TYPE), concat,
                        nftnl_set_get_u32(set, NFTNL_SET_KEY_LEN));
  if (!key) {
    return make_error(Errc::conflict, "set " + out.name + ": " + key.error().message);
  }
  out.type.key = std::move(key).value();
  return out;
}

std::vector<ElementPiece> to_pieces(const SetType& type, const Element& element,
                                    bool with_verdict) {
  std::optional<Verdict> verdict = with_verdict ? element.verdict : std::nullopt;
  ElementPiece start{.key = element.key, .verdict = verdict};
  if (!type.interval) {
    return {start};
  }
  if (type.key.size() > 1) {
    start.key_end = nft::element_end(element);
    return {start};
  }
  Bytes end = nft::element_end(element);
  if (!increment(end)) {
    start.open = true;
    return {start};
  }
  return {start, ElementPiece{.key = std::move(end), .interval_end = true}};
}

void encode_piece(nftnl_set_elem* elem, const ElementPiece& piece) {
  nftnl_set_elem_set(elem, NFTNL_SET_ELEM_KEY, piece.key.data(),
                     static_cast<std::uint32_t>(piece.key.size()));
  if (piece.key_end) {
    nftnl_set_elem_set(elem, NFTNL_SET_ELEM_KEY_END, piece.key_end->data(),
                       static_cast<std::uint32_t>(piece.key_end->size()));
  }
  if (piece.interval_end) {
    nftnl_set_elem_set_u32(elem, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
  }
  if (piece.verdict) {
    nftnl_set_elem_set_u32(elem, NFTNL_SET_ELEM_VERDICT,
                           static_cast<std::uint32_t>(verdict_code(*piece.verdict)));
    if (piece.verdict->targets_chain()) {
      nftnl_set_elem_set_str(elem, NFTNL_SET_ELEM_CHAIN, piece.verdict->chain.c_str());
    }
  }
  if (piece.open) {
    nl::UdataPtr buf(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    nftnl_udata_put_u32(buf.get(), NFTNL_UDATA_SET_ELEM_FLAGS, kElemIntervalOpen);
    nftnl_set_elem_set(elem, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(buf.get()),
                       nftnl_udata_buf_len(buf.get()));
  }
}

Result<ElementPiece> decode_piece(nftnl_set_elem* elem) {
  ElementPiece piece;
  std::uint32_t len = 0;
  const auto* key =
      static_cast<const std::uint8_t*>(nftnl_set_elem_get(elem, NFTNL_SET_ELEM_KEY, &len));
  if (key != nullptr) {
    piece.key.assign(key, key + len);
  }
  if (const auto* end =
          static_cast<const std::uint8_t*>(nftnl_set_elem_get(elem, NFTNL_SET_ELEM_KEY_END, &len));
      end != nullptr) {
    piece.key_end = Bytes(end, end + len);
  }
  if (nftnl_set_elem_is_set(elem, NFTNL_SET_ELEM_FLAGS)) {
    std::uint32_t flags = nftnl_set_elem_get_u32(elem, NFTNL_SET_ELEM_FLAGS);
    if ((flags & ~static_cast<std::uint32_t>(NFT_SET_ELEM_INTERVAL_END)) != 0) {
      return foreign("set element flags " + std::to_string(flags));
    }
    piece.interval_end = flags != 0;
  }
  if (nftnl_set_elem_is_set(elem, NFTNL_SET_ELEM_VERDICT)) {
    auto code = static_cast<std::int32_t>(nftnl_set_elem_get_u32(elem, NFTNL_SET_ELEM_VERDICT));
    const char* chain = nftnl_set_elem_is_set(elem, NFTNL_SET_ELEM_CHAIN)
                            ? nftnl_set_elem_get_str(elem, NFTNL_SET_ELEM_CHAIN)
                            : nullptr;
    piece.verdict = verdict_from(code, chain);
    if (!piece.verdict) {
      return foreign("element verdict " + std::to_string(code));
    }
  } else if (nftnl_set_elem_is_set(elem, NFTNL_SET_ELEM_DATA) ||
             nftnl_set_elem_is_set(elem, NFTNL_SET_ELEM_TIMEOUT) ||
             nftnl_set_elem_is_set(elem, NFTNL_SET_ELEM_EXPR)) {
    return foreign("set element with data, timeout or expressions");
  }
  return piece;
}

Result<std::vector<Element>> from_pieces(const SetType& type, std::vector<ElementPiece> pieces,
                                         bool with_verdicts, std::size_t* repeated) {
  std::size_t ignored = 0;
  const std::size_t length = type.key_length();
  const bool verdicts = type.verdict_map && with_verdicts;
  for (const ElementPiece& piece : pieces) {
    if (piece.key.size() != length || (piece.key_end && piece.key_end->size() != length) ||
        piece.verdict.has_value() != (verdicts && !piece.interval_end)) {
      return foreign("element of the wrong size or kind");
    }
  }
  if (type.interval && type.key.size() == 1) {
    return from_rbtree(std::move(pieces), repeated != nullptr ? *repeated : ignored);
  }
  std::vector<Element> out;
  out.reserve(pieces.size());
  for (ElementPiece& piece : pieces) {
    if (piece.interval_end || (piece.key_end && !type.interval)) {
      return foreign("element of the wrong kind");
    }
    Bytes last = piece.key_end ? std::move(*piece.key_end) : piece.key;
    out.push_back(make_element(std::move(piece.key), std::move(last), std::move(piece.verdict)));
  }
  return out;
}

}  // namespace nft::codec
