#include "nft/expr_codec.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>

#include <array>
#include <cstring>
#include <span>

#include "nft/names.h"
#include "nft/set_codec.h"

namespace nft::codec {
namespace {

constexpr std::uint32_t kReg = NFT_REG_1;
// The second 32-bit word of NFT_REG_1: where nft puts `th dport` after `meta l4proto`.
constexpr std::uint32_t kRegSecondWord = NFT_REG32_01;
constexpr std::size_t kIfnameSize = kMaxIfnameLength + 1;  // IFNAMSIZ

struct PayloadField {
  std::uint32_t offset;
  std::uint32_t length;
};

PayloadField address_field(Family family, Addr field) {
  bool src = field == Addr::saddr;
  if (family == Family::ipv4) {
    return {src ? 12u : 16u, 4};  // struct iphdr
  }
  return {src ? 8u : 24u, 16};  // struct ipv6hdr
}

std::uint8_t nfproto_of(Family family) {
  return family == Family::ipv4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
}

// The protocol context nft tracks while linearizing (see canonical.h): the nfproto and
// the l4proto earlier matches pinned down, -1 for none. (Plain ints: gcc 12 reports
// std::optional members here as maybe-uninitialized.)
struct Context {
  int network = -1;
  int transport = -1;
};

// Appends expressions to a rule.
class Writer {
 public:
  explicit Writer(nftnl_rule* rule) : rule_(rule) {}

  void meta(std::uint32_t key) {
    nftnl_expr* e = add("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, kReg);
  }
  void cmp(std::uint32_t op, const void* data, std::size_t length) {
    nftnl_expr* e = add("cmp");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, kReg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, static_cast<std::uint32_t>(length));
  }
  void cmp_u8(bool negate, std::uint8_t value) {
    cmp(negate ? NFT_CMP_NEQ : NFT_CMP_EQ, &value, 1);
  }
  void cmp_u32(bool negate, std::uint32_t value) {
    cmp(negate ? NFT_CMP_NEQ : NFT_CMP_EQ, &value, sizeof(value));
  }
  void payload(std::uint32_t base, std::uint32_t offset, std::uint32_t length,
               std::uint32_t dreg = kReg) {
    nftnl_expr* e = add("payload");
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, length);
  }
  void bitwise(const void* mask, std::size_t length) {
    const std::uint32_t zero = 0;
    nftnl_expr* e = add("bitwise");
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, kReg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, kReg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, static_cast<std::uint32_t>(length));
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, static_cast<std::uint32_t>(length));
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, static_cast<std::uint32_t>(length));
  }
  void lookup(const std::string& set, bool negate, bool verdict,
              std::optional<std::uint32_t> set_id = std::nullopt) {
    nftnl_expr* e = add("lookup");
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, kReg);
    if (verdict) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
    }
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.c_str());
    if (set_id) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, *set_id);
    }
    if (negate) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
    }
  }
  void byteorder_hton() {
    nftnl_expr* e = add("byteorder");
    nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, kReg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, kReg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 2);
  }
  void ct(std::uint32_t key) {
    nftnl_expr* e = add("ct");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, kReg);
  }
  void fib_type(Addr field) {
    nftnl_expr* e = add("fib");
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, kReg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS,
                       field == Addr::saddr ? NFTA_FIB_F_SADDR : NFTA_FIB_F_DADDR);
  }
  void counter() {
    nftnl_expr* e = add("counter");
    nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_PACKETS, 0);
    nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_BYTES, 0);
  }
  void verdict(const Verdict& v) {
    nftnl_expr* e = add("immediate");
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<std::uint32_t>(verdict_code(v)));
    if (v.targets_chain()) {
      nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, v.chain.c_str());
    }
  }

 private:
  nftnl_expr* add(const char* name) {
    nftnl_expr* e = nftnl_expr_alloc(name);
    nftnl_rule_add_expr(rule_, e);  // the rule owns it from here on
    return e;
  }
  nftnl_rule* rule_;
};

class Encoder {
 public:
  Encoder(nftnl_rule* rule, const RuleContext& context) : w_(rule), context_(context) {}

  void network_dependency(Family family) {
    std::uint8_t proto = nfproto_of(family);
    if (ctx_.network != proto) {
      w_.meta(NFT_META_NFPROTO);
      w_.cmp_u8(false, proto);
      ctx_.network = proto;
    }
  }
  void address(Family family, Addr field) {
    network_dependency(family);
    PayloadField f = address_field(family, field);
    w_.payload(NFT_PAYLOAD_NETWORK_HEADER, f.offset, f.length);
  }

  void operator()(const CtStateMatch& m) {
    w_.ct(NFT_CT_STATE);
    if (m.negate) {
      w_.cmp_u32(true, m.states);  // nft: `ct state != a,b` compares the whole value
      return;
    }
    w_.bitwise(&m.states, sizeof(m.states));
    w_.cmp_u32(true, 0);
  }
  void operator()(const NfprotoMatch& m) {
    w_.meta(NFT_META_NFPROTO);
    w_.cmp_u8(false, nfproto_of(m.family));
    ctx_.network = nfproto_of(m.family);
  }
  void operator()(const L4protoMatch& m) {
    w_.meta(NFT_META_L4PROTO);
    if (m.protocols.size() == 1) {
      w_.cmp_u8(m.negate, *m.protocols.begin());
      if (!m.negate) {
        ctx_.transport = *m.protocols.begin();
      }
      return;
    }
    std::uint32_t id = context_.l4proto_set_ids.at(anonymous_++);
    w_.lookup(std::string(kAnonymousSetName), m.negate, false, id);
  }
  void operator()(const AddrSetMatch& m) {
    address(m.family, m.field);
    w_.lookup(m.set, m.negate, false);
  }
  void operator()(const PortSetMatch& m) {
    w_.meta(NFT_META_L4PROTO);
    if (context_.interval_set && context_.interval_set(m.set)) {
      w_.byteorder_hton();
    }
    w_.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, kRegSecondWord);
    w_.lookup(m.set, m.negate, false);
  }
  void operator()(const FibLocalMatch& m) {
    w_.fib_type(m.field);
    w_.cmp_u32(m.negate, RTN_LOCAL);
  }
  void operator()(const TcpFlagsMatch& m) {
    if (ctx_.transport != kProtoTcp) {
      w_.meta(NFT_META_L4PROTO);
      w_.cmp_u8(false, kProtoTcp);
      ctx_.transport = kProtoTcp;
    }
    w_.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1);  // struct tcphdr: flags byte
    w_.bitwise(&m.mask, 1);
    w_.cmp_u8(m.negate, m.value);
  }
  void operator()(const CtMarkMatch& m) {
    // The mark register holds a host-order u32, like `ct state`.
    w_.ct(NFT_CT_MARK);
    w_.bitwise(&m.mask, sizeof(m.mask));
    w_.cmp_u32(m.negate, m.value);
  }
  void operator()(const IfnameMatch& m) {
    std::array<char, kIfnameSize> name{};
    std::memcpy(name.data(), m.name.data(), std::min(m.name.size(), kMaxIfnameLength));
    w_.meta(m.iface == Iface::iifname ? NFT_META_IIFNAME : NFT_META_OIFNAME);
    w_.cmp(m.negate ? NFT_CMP_NEQ : NFT_CMP_EQ, name.data(), name.size());
  }
  void operator()(const Verdict& v) { w_.verdict(v); }
  void operator()(const VmapDispatch& v) {
    address(v.family, v.field);
    w_.lookup(v.map, false, true);
  }
  void counter() { w_.counter(); }

 private:
  Writer w_;
  const RuleContext& context_;
  Context ctx_;
  std::size_t anonymous_ = 0;
};

void put_comment(nftnl_rule* rule, const std::string& comment) {
  nl::UdataPtr buf(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
  nftnl_udata_put_strz(buf.get(), NFTNL_UDATA_RULE_COMMENT, comment.c_str());
  nftnl_rule_set_data(rule, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(buf.get()),
                      nftnl_udata_buf_len(buf.get()));
}

}  // namespace

std::int32_t verdict_code(const Verdict& verdict) {
  switch (verdict.kind) {
    case Verdict::Kind::accept:
      return NF_ACCEPT;
    case Verdict::Kind::drop:
      return NF_DROP;
    case Verdict::Kind::return_:
      return NFT_RETURN;
    case Verdict::Kind::jump:
      return NFT_JUMP;
    case Verdict::Kind::goto_:
      return NFT_GOTO;
  }
  return NF_DROP;
}

std::optional<Verdict> verdict_from(std::int32_t code, const char* chain) {
  bool named = chain != nullptr && *chain != '\0';
  switch (code) {
    case NF_ACCEPT:
      return named ? std::nullopt : std::optional(Verdict::accept());
    case NF_DROP:
      return named ? std::nullopt : std::optional(Verdict::drop());
    case NFT_RETURN:
      return named ? std::nullopt : std::optional(Verdict::return_());
    case NFT_JUMP:
      return named ? std::optional(Verdict::jump(chain)) : std::nullopt;
    case NFT_GOTO:
      return named ? std::optional(Verdict::goto_(chain)) : std::nullopt;
    default:
      return std::nullopt;
  }
}

std::size_t anonymous_sets_needed(const Rule& rule) {
  std::size_t n = 0;
  for (const Match& m : rule.matches) {
    if (const auto* l = std::get_if<L4protoMatch>(&m); l != nullptr && l->protocols.size() > 1) {
      ++n;
    }
  }
  return n;
}

void encode_rule(nftnl_rule* rule, std::string_view table, const std::string& chain,
                 const Rule& value, const RuleContext& context) {
  nftnl_rule_set_u32(rule, NFTNL_RULE_FAMILY, NFPROTO_INET);
  nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, std::string(table).c_str());
  nftnl_rule_set_str(rule, NFTNL_RULE_CHAIN, chain.c_str());
  Encoder encoder(rule, context);
  for (const Match& m : value.matches) {
    std::visit(encoder, m);
  }
  if (value.counter) {
    encoder.counter();
  }
  std::visit(encoder, value.statement);
  if (!value.comment.empty()) {
    put_comment(rule, value.comment);
  }
}

}  // namespace nft::codec
