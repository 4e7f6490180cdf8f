// The inverse of encode_rule() (expr_codec.cc): expressions back to a structured Rule.
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>

#include <cstring>
#include <span>

#include "nft/expr_codec.h"
#include "nft/set_codec.h"

namespace nft::codec {
namespace {

using ByteSpan = std::span<const std::uint8_t>;

std::string_view name_of(const nftnl_expr* e) {
  const char* name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
  return name != nullptr ? name : "";
}

ByteSpan bytes(const nftnl_expr* e, std::uint16_t attr) {
  std::uint32_t len = 0;
  const void* data = nftnl_expr_get(e, attr, &len);
  return data != nullptr ? ByteSpan(static_cast<const std::uint8_t*>(data), len) : ByteSpan{};
}

bool all_zero(ByteSpan s) {
  return std::all_of(s.begin(), s.end(), [](std::uint8_t b) { return b == 0; });
}

std::optional<std::uint32_t> as_u32(ByteSpan s) {
  if (s.size() != sizeof(std::uint32_t)) {
    return std::nullopt;
  }
  std::uint32_t v = 0;
  std::memcpy(&v, s.data(), sizeof(v));
  return v;
}

struct Cmp {
  bool negate = false;
  ByteSpan data;
};

struct Context {
  std::optional<Family> network;
  std::optional<std::uint8_t> transport;
};

class Decoder {
 public:
  Decoder(std::vector<const nftnl_expr*> exprs, const AnonymousSetResolver& anonymous)
      : exprs_(std::move(exprs)), anonymous_(anonymous) {}

  Result<Rule> run() {
    while (pos_ < exprs_.size()) {
      if (statement_) {
        return fail("expression after the verdict");
      }
      if (Status s = step(); !s) {
        return s.error();
      }
    }
    if (!statement_) {
      return fail("no verdict");
    }
    rule_.statement = *statement_;
    return rule_;
  }

 private:
  const nftnl_expr* peek(std::size_t ahead = 0) const {
    return pos_ + ahead < exprs_.size() ? exprs_[pos_ + ahead] : nullptr;
  }
  bool peek_is(std::size_t ahead, std::string_view name) const {
    const nftnl_expr* e = peek(ahead);
    return e != nullptr && name_of(e) == name;
  }
  Error fail(const std::string& why) const {
    return make_error(Errc::conflict, why + " at expression " + std::to_string(pos_));
  }
  Status add(Match m) {
    if (rule_.counter) {
      return fail("match after the counter");
    }
    rule_.matches.push_back(std::move(m));
    return Status::ok();
  }

  Status step() {
    const nftnl_expr* e = peek();
    std::string_view name = name_of(e);
    if (name == "counter") {
      if (rule_.counter) {
        return fail("second counter");
      }
      rule_.counter = true;
      ++pos_;
      return Status::ok();
    }
    if (name == "immediate") {
      return immediate();
    }
    if (name == "ct") {
      return ct();
    }
    if (name == "meta") {
      return meta();
    }
    if (name == "payload") {
      return payload();
    }
    if (name == "fib") {
      return fib();
    }
    return fail("unexpected expression " + std::string(name));
  }

  // The next expression is `cmp eq|neq` on register 1.
  std::optional<Cmp> take_cmp() {
    const nftnl_expr* e = peek();
    if (e == nullptr || name_of(e) != "cmp" ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_SREG) != NFT_REG_1) {
      return std::nullopt;
    }
    std::uint32_t op = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);
    if (op != NFT_CMP_EQ && op != NFT_CMP_NEQ) {
      return std::nullopt;
    }
    ++pos_;
    return Cmp{.negate = op == NFT_CMP_NEQ, .data = bytes(e, NFTNL_EXPR_CMP_DATA)};
  }

  // `bitwise reg 1 = (reg 1 & mask) ^ 0` of `length` bytes; the mask.
  std::optional<ByteSpan> take_bitwise(std::size_t length) {
    const nftnl_expr* e = peek();
    if (e == nullptr || name_of(e) != "bitwise" ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_SREG) != NFT_REG_1 ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_DREG) != NFT_REG_1 ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_LEN) != length ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_OP) != NFT_BITWISE_BOOL) {
      return std::nullopt;
    }
    ByteSpan mask = bytes(e, NFTNL_EXPR_BITWISE_MASK);
    ByteSpan x = bytes(e, NFTNL_EXPR_BITWISE_XOR);
    if (mask.size() != length || x.size() != length || !all_zero(x)) {
      return std::nullopt;
    }
    ++pos_;
    return mask;
  }

  Status immediate() {
    const nftnl_expr* e = peek();
    if (nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) != NFT_REG_VERDICT) {
      return fail("immediate into a data register");
    }
    const char* chain = nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN)
                            ? nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN)
                            : nullptr;
    auto code = static_cast<std::int32_t>(nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT));
    auto v = verdict_from(code, chain);
    if (!v) {
      return fail("verdict " + std::to_string(code));
    }
    ++pos_;
    statement_ = *v;
    return Status::ok();
  }

  Status ct() {
    const nftnl_expr* e = peek();
    const std::uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY);
    if ((key != NFT_CT_STATE && key != NFT_CT_MARK) ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_CT_DREG) != NFT_REG_1 ||
        nftnl_expr_is_set(e, NFTNL_EXPR_CT_DIR)) {
      return fail("ct expression other than `ct state` or `ct mark`");
    }
    ++pos_;
    return key == NFT_CT_STATE ? ct_state() : ct_mark();
  }

  Status ct_mark() {
    auto mask = take_bitwise(4);
    auto cmp = mask ? take_cmp() : std::nullopt;
    if (!cmp || !as_u32(cmp->data)) {
      return fail("ct mark comparison");
    }
    return add(
        CtMarkMatch{.mask = *as_u32(*mask), .value = *as_u32(cmp->data), .negate = cmp->negate});
  }

  Status ct_state() {
    if (auto mask = take_bitwise(4)) {
      auto cmp = take_cmp();
      if (!cmp || !cmp->negate || !all_zero(cmp->data) || cmp->data.size() != 4) {
        return fail("ct state mask without `!= 0`");
      }
      return add(CtStateMatch{.states = *as_u32(*mask), .negate = false});
    }
    auto cmp = take_cmp();
    if (!cmp || !cmp->negate || !as_u32(cmp->data)) {
      return fail("ct state comparison");
    }
    return add(CtStateMatch{.states = *as_u32(cmp->data), .negate = true});
  }

  Status meta() {
    const nftnl_expr* e = peek();
    if (nftnl_expr_get_u32(e, NFTNL_EXPR_META_DREG) != NFT_REG_1) {
      return fail("meta into another register");
    }
    std::uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY);
    ++pos_;
    switch (key) {
      case NFT_META_NFPROTO:
        return nfproto();
      case NFT_META_L4PROTO:
        return l4proto();
      case NFT_META_IIFNAME:
      case NFT_META_OIFNAME:
        return ifname(key == NFT_META_IIFNAME ? Iface::iifname : Iface::oifname);
      default:
        return fail("meta key " + std::to_string(key));
    }
  }

  // The network family a `payload` expression at `ahead` loads an address of.
  std::optional<Family> address_family_at(std::size_t ahead) const {
    const nftnl_expr* e = peek(ahead);
    if (e == nullptr || name_of(e) != "payload" ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE) != NFT_PAYLOAD_NETWORK_HEADER) {
      return std::nullopt;
    }
    std::uint32_t len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
    return len == 4    ? std::optional(Family::ipv4)
           : len == 16 ? std::optional(Family::ipv6)
                       : std::nullopt;
  }

  Status nfproto() {
    auto cmp = take_cmp();
    if (!cmp || cmp->negate || cmp->data.size() != 1 ||
        (cmp->data[0] != NFPROTO_IPV4 && cmp->data[0] != NFPROTO_IPV6)) {
      return fail("meta nfproto comparison");
    }
    Family family = cmp->data[0] == NFPROTO_IPV4 ? Family::ipv4 : Family::ipv6;
    bool implicit = ctx_.network != family && address_family_at(0) == family;
    ctx_.network = family;
    return implicit ? Status::ok() : add(NfprotoMatch{.family = family});
  }

  bool tcp_flags_next() const {
    const nftnl_expr* e = peek();
    return e != nullptr && name_of(e) == "payload" &&
           nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE) == NFT_PAYLOAD_TRANSPORT_HEADER &&
           nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET) == 13;
  }

  Status l4proto() {
    if (peek_is(0, "byteorder") || peek_is(0, "payload")) {
      return port_set();
    }
    if (peek_is(0, "lookup")) {
      return l4proto_set();
    }
    auto cmp = take_cmp();
    if (!cmp || cmp->data.size() != 1) {
      return fail("meta l4proto comparison");
    }
    std::uint8_t proto = cmp->data[0];
    if (!cmp->negate) {
      bool implicit = proto == kProtoTcp && ctx_.transport != kProtoTcp && tcp_flags_next();
      ctx_.transport = proto;
      if (implicit) {
        return Status::ok();
      }
    }
    return add(L4protoMatch{.protocols = {proto}, .negate = cmp->negate});
  }

  // lookup reg 1 [dreg] set S [inv]; its set name, id, flags.
  struct Lookup {
    std::string set;
    std::optional<std::uint32_t> set_id;
    bool negate = false;
    bool verdict = false;
  };
  std::optional<Lookup> take_lookup() {
    const nftnl_expr* e = peek();
    if (e == nullptr || name_of(e) != "lookup" ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SREG) != NFT_REG_1) {
      return std::nullopt;
    }
    std::uint32_t flags = nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS);
    bool dreg = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG);
    if ((flags & ~static_cast<std::uint32_t>(NFT_LOOKUP_F_INV)) != 0 ||
        (dreg && nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_DREG) != NFT_REG_VERDICT)) {
      return std::nullopt;
    }
    ++pos_;
    const char* set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
    Lookup out{.set = set != nullptr ? set : "", .negate = flags != 0, .verdict = dreg};
    if (nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_SET_ID)) {
      out.set_id = nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SET_ID);
    }
    return out;
  }

  Status l4proto_set() {
    auto lookup = take_lookup();
    if (!lookup || lookup->verdict) {
      return fail("meta l4proto lookup");
    }
    const std::set<std::uint8_t>* protocols = anonymous_(lookup->set, lookup->set_id);
    if (protocols == nullptr || protocols->size() < 2) {
      return fail("meta l4proto lookup in a set other than a protocol list: " + lookup->set);
    }
    return add(L4protoMatch{.protocols = *protocols, .negate = lookup->negate});
  }

  Status port_set() {
    if (peek_is(0, "byteorder")) {
      const nftnl_expr* e = peek();
      if (nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_SREG) != NFT_REG_1 ||
          nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_DREG) != NFT_REG_1 ||
          nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_OP) != NFT_BYTEORDER_HTON ||
          nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_LEN) != 1 ||
          nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_SIZE) != 2) {
        return fail("byteorder");
      }
      ++pos_;
    }
    const nftnl_expr* e = peek();
    if (e == nullptr || name_of(e) != "payload" ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE) != NFT_PAYLOAD_TRANSPORT_HEADER ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET) != 2 ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN) != 2 ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_DREG) != NFT_REG32_01) {
      return fail("meta l4proto . th dport");
    }
    ++pos_;
    auto lookup = take_lookup();
    if (!lookup || lookup->verdict) {
      return fail("meta l4proto . th dport lookup");
    }
    return add(PortSetMatch{.set = lookup->set, .negate = lookup->negate});
  }

  Status ifname(Iface iface) {
    auto cmp = take_cmp();
    if (!cmp || cmp->data.size() != kMaxIfnameLength + 1) {
      return fail("interface name comparison");
    }
    auto end = std::find(cmp->data.begin(), cmp->data.end(), 0);
    if (end == cmp->data.begin() || end == cmp->data.end() ||
        !all_zero(ByteSpan(end, cmp->data.end()))) {
      return fail("interface name pattern");
    }
    return add(IfnameMatch{
        .iface = iface, .name = std::string(cmp->data.begin(), end), .negate = cmp->negate});
  }

  Status payload() {
    const nftnl_expr* e = peek();
    if (nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_DREG) != NFT_REG_1) {
      return fail("payload into another register");
    }
    if (tcp_flags_next()) {
      return tcp_flags();
    }
    auto family = address_family_at(0);
    if (!family) {
      return fail("payload other than an address or tcp flags");
    }
    if (ctx_.network != family) {
      return fail("address without its `meta nfproto` dependency");
    }
    std::uint32_t offset = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
    bool v4 = *family == Family::ipv4;
    Addr field = offset == (v4 ? 12u : 8u) ? Addr::saddr : Addr::daddr;
    if (offset != (v4 ? 12u : 8u) && offset != (v4 ? 16u : 24u)) {
      return fail("network header offset " + std::to_string(offset));
    }
    ++pos_;
    auto lookup = take_lookup();
    if (!lookup) {
      return fail("address without a set lookup");
    }
    if (lookup->verdict) {
      if (lookup->negate) {
        return fail("inverted verdict map lookup");
      }
      statement_ = VmapDispatch{.family = *family, .field = field, .map = lookup->set};
      return Status::ok();
    }
    return add(AddrSetMatch{
        .family = *family, .field = field, .set = lookup->set, .negate = lookup->negate});
  }

  Status tcp_flags() {
    if (nftnl_expr_get_u32(peek(), NFTNL_EXPR_PAYLOAD_LEN) != 1) {
      return fail("tcp flags length");
    }
    if (ctx_.transport != kProtoTcp) {
      return fail("tcp flags without `meta l4proto tcp`");
    }
    ++pos_;
    auto mask = take_bitwise(1);
    auto cmp = mask ? take_cmp() : std::nullopt;
    if (!cmp || cmp->data.size() != 1) {
      return fail("tcp flags comparison");
    }
    return add(TcpFlagsMatch{.mask = (*mask)[0], .value = cmp->data[0], .negate = cmp->negate});
  }

  Status fib() {
    const nftnl_expr* e = peek();
    std::uint32_t flags = nftnl_expr_get_u32(e, NFTNL_EXPR_FIB_FLAGS);
    if (nftnl_expr_get_u32(e, NFTNL_EXPR_FIB_RESULT) != NFT_FIB_RESULT_ADDRTYPE ||
        nftnl_expr_get_u32(e, NFTNL_EXPR_FIB_DREG) != NFT_REG_1 ||
        (flags != NFTA_FIB_F_SADDR && flags != NFTA_FIB_F_DADDR)) {
      return fail("fib expression");
    }
    ++pos_;
    auto cmp = take_cmp();
    if (!cmp || as_u32(cmp->data) != std::optional<std::uint32_t>(RTN_LOCAL)) {
      return fail("fib type comparison");
    }
    return add(FibLocalMatch{.field = flags == NFTA_FIB_F_SADDR ? Addr::saddr : Addr::daddr,
                             .negate = cmp->negate});
  }

  std::vector<const nftnl_expr*> exprs_;
  const AnonymousSetResolver& anonymous_;
  std::size_t pos_ = 0;
  Context ctx_;
  Rule rule_;
  std::optional<Statement> statement_;
};

int collect(nftnl_expr* e, void* data) {
  static_cast<std::vector<const nftnl_expr*>*>(data)->push_back(e);
  return 0;
}

// NFTNL_UDATA_RULE_COMMENT from the rule's userdata: [type u8][len u8][value] TLVs.
Result<std::string> comment_of(const nftnl_rule* rule) {
  if (!nftnl_rule_is_set(rule, NFTNL_RULE_USERDATA)) {
    return std::string();
  }
  std::uint32_t len = 0;
  const auto* p =
      static_cast<const std::uint8_t*>(nftnl_rule_get_data(rule, NFTNL_RULE_USERDATA, &len));
  std::string comment;
  for (std::uint32_t i = 0; i + 2 <= len;) {
    std::uint8_t type = p[i], size = p[i + 1];
    if (i + 2 + size > len || type != NFTNL_UDATA_RULE_COMMENT || size == 0 ||
        p[i + 2 + size - 1] != 0) {
      return make_error(Errc::conflict, "rule userdata other than a comment");
    }
    comment.assign(reinterpret_cast<const char*>(p + i + 2), size - 1);
    i += 2 + size;
  }
  return comment;
}

}  // namespace

Result<Rule> decode_rule(const nftnl_rule* rule, const AnonymousSetResolver& anonymous) {
  std::vector<const nftnl_expr*> exprs;
  nftnl_expr_foreach(const_cast<nftnl_rule*>(rule), collect, &exprs);
  Result<Rule> out = Decoder(std::move(exprs), anonymous).run();
  auto comment = comment_of(rule);
  if (!out || !comment) {
    char text[4096] = {};
    nftnl_rule_snprintf(text, sizeof(text), rule, NFTNL_OUTPUT_DEFAULT, 0);
    const Error& e = !out ? out.error() : comment.error();
    return make_error(Errc::conflict, "rule not written by nftpolicy (" + e.message + "): " + text);
  }
  Rule r = std::move(out).value();
  r.comment = std::move(comment).value();
  return r;
}

}  // namespace nft::codec
