#include "nft/batch_builder.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <map>
#include <set>

#include "nft/expr_codec.h"
#include "nft/nftnl_handles.h"
#include "nft/set_codec.h"

namespace nft {
namespace {

constexpr std::uint16_t kCreate = NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
// Room for one message: the element limit plus one element of slack.
constexpr std::size_t kScratchBytes = 128 * 1024;
// An attribute's length is a u16: the element list of one message must stay below it.
constexpr std::size_t kMaxNestBytes = 0xffff;

std::uint32_t hook_number(Hook hook) {
  switch (hook) {
    case Hook::input:
      return NF_INET_LOCAL_IN;
    case Hook::forward:
      return NF_INET_FORWARD;
    case Hook::output:
      return NF_INET_LOCAL_OUT;
  }
  return NF_INET_FORWARD;
}

// Appends messages to a batch, one at a time, through a scratch buffer.
class Writer {
 public:
  Writer(Batch& batch, std::uint32_t seq) : batch_(batch), seq_(seq), scratch_(kScratchBytes) {}

  nlmsghdr* start(std::uint16_t type, std::uint16_t flags) {
    return nftnl_nlmsg_build_hdr(reinterpret_cast<char*>(scratch_.data()), type, NFPROTO_INET,
                                 flags, seq_);
  }
  nlmsghdr* start_batch(std::uint16_t type, std::optional<std::uint32_t> generation) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(scratch_.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = seq_;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
    if (generation) {
      mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(*generation));
    }
    return nlh;
  }
  void finish(const nlmsghdr* nlh, std::uint16_t type, std::optional<std::size_t> op,
              std::size_t elements = 0) {
    std::size_t offset = batch_.bytes.size();
    std::size_t aligned = NLMSG_ALIGN(nlh->nlmsg_len);
    batch_.bytes.insert(batch_.bytes.end(), scratch_.begin(),
                        scratch_.begin() + static_cast<std::ptrdiff_t>(aligned));
    batch_.messages.push_back(BatchMessage{.seq = seq_++,
                                           .type = type,
                                           .op_index = op,
                                           .elements = elements,
                                           .offset = offset,
                                           .length = nlh->nlmsg_len});
    batch_.elements += elements;
  }

 private:
  Batch& batch_;
  std::uint32_t seq_;
  std::vector<std::uint8_t> scratch_;
};

class Builder {
 public:
  Builder(const Transaction& tx, const BatchOptions& options, Batch& batch)
      : tx_(tx), options_(options), w_(batch, options.first_seq) {}

  void run() {
    w_.finish(w_.start_batch(NFNL_MSG_BATCH_BEGIN, options_.generation), NFNL_MSG_BATCH_BEGIN,
              std::nullopt);
    for (op_ = 0; op_ < tx_.ops.size(); ++op_) {
      std::visit(*this, tx_.ops[op_]);
    }
    w_.finish(w_.start_batch(NFNL_MSG_BATCH_END, std::nullopt), NFNL_MSG_BATCH_END, std::nullopt);
  }

  void operator()(const op::AddTable&) { table(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_ACK); }
  void operator()(const op::DeleteTable&) { table(NFT_MSG_DELTABLE, NLM_F_ACK); }
  void operator()(const op::AddSet& o) {
    nl::SetPtr set(nftnl_set_alloc());
    std::uint32_t id = next_set_id_++;
    codec::encode_set(set.get(), tx_.table, o.name, o.type, id);
    created_[o.name] = {o.type, id};
    emit_set(NFT_MSG_NEWSET, kCreate, set.get());
  }
  void operator()(const op::DeleteSet& o) {
    nl::SetPtr set = named_set(o.name);
    created_.erase(o.name);
    emit_set(NFT_MSG_DELSET, NLM_F_ACK, set.get());
  }
  void operator()(const op::AddElements& o) {
    elements(NFT_MSG_NEWSETELEM, kCreate, o.set, o.type, o.elements, true);
  }
  void operator()(const op::DeleteElements& o) {
    elements(NFT_MSG_DELSETELEM, NLM_F_ACK, o.set, o.type, o.elements, false);
  }
  void operator()(const op::AddChain& o) {
    nl::ChainPtr chain = named_chain(o.name);
    if (o.base) {
      nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_HOOKNUM, hook_number(o.base->hook));
      nftnl_chain_set_s32(chain.get(), NFTNL_CHAIN_PRIO, o.base->priority);
      nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TYPE, "filter");
      nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_POLICY,
                          o.base->policy == ChainPolicy::accept ? NF_ACCEPT : NF_DROP);
    }
    emit_chain(NFT_MSG_NEWCHAIN, kCreate, chain.get());
  }
  void operator()(const op::DeleteChain& o) {
    emit_chain(NFT_MSG_DELCHAIN, NLM_F_ACK, named_chain(o.name).get());
  }
  void operator()(const op::FlushChain& o) {
    nl::RulePtr rule(nftnl_rule_alloc());
    nftnl_rule_set_u32(rule.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
    nftnl_rule_set_str(rule.get(), NFTNL_RULE_TABLE, tx_.table.c_str());
    nftnl_rule_set_str(rule.get(), NFTNL_RULE_CHAIN, o.name.c_str());
    nlmsghdr* nlh = w_.start(NFT_MSG_DELRULE, NLM_F_ACK);
    nftnl_rule_nlmsg_build_payload(nlh, rule.get());
    w_.finish(nlh, NFT_MSG_DELRULE, op_);
  }
  void operator()(const op::AddRule& o);

 private:
  void table(std::uint16_t type, std::uint16_t flags) {
    nl::TablePtr table(nftnl_table_alloc());
    nftnl_table_set_u32(table.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
    nftnl_table_set_str(table.get(), NFTNL_TABLE_NAME, tx_.table.c_str());
    if (type == NFT_MSG_NEWTABLE) {
      nftnl_table_set_u32(table.get(), NFTNL_TABLE_FLAGS, 0);
    }
    nlmsghdr* nlh = w_.start(type, flags);
    nftnl_table_nlmsg_build_payload(nlh, table.get());
    w_.finish(nlh, type, op_);
  }
  nl::SetPtr named_set(const std::string& name) const {
    nl::SetPtr set(nftnl_set_alloc());
    nftnl_set_set_u32(set.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
    nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, tx_.table.c_str());
    nftnl_set_set_str(set.get(), NFTNL_SET_NAME, name.c_str());
    return set;
  }
  nl::ChainPtr named_chain(const std::string& name) const {
    nl::ChainPtr chain(nftnl_chain_alloc());
    nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_FAMILY, NFPROTO_INET);
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TABLE, tx_.table.c_str());
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_NAME, name.c_str());
    return chain;
  }
  void emit_set(std::uint16_t type, std::uint16_t flags, nftnl_set* set) {
    nlmsghdr* nlh = w_.start(type, flags);
    nftnl_set_nlmsg_build_payload(nlh, set);
    w_.finish(nlh, type, op_);
  }
  void emit_chain(std::uint16_t type, std::uint16_t flags, nftnl_chain* chain) {
    nlmsghdr* nlh = w_.start(type, flags);
    nftnl_chain_nlmsg_build_payload(nlh, chain);
    w_.finish(nlh, type, op_);
  }
  void elements(std::uint16_t type, std::uint16_t flags, const std::string& set_name,
                const SetType& set_type, const std::vector<Element>& elements, bool add);
  void pieces(std::uint16_t type, std::uint16_t flags, nftnl_set* carrier,
              const std::vector<codec::ElementPiece>& pieces);
  bool interval_set(const std::string& name) const;

  struct Created {
    SetType type;
    std::uint32_t id = 0;
  };
  const Transaction& tx_;
  const BatchOptions& options_;
  Writer w_;
  std::size_t op_ = 0;
  std::uint32_t next_set_id_ = 1;
  std::map<std::string, Created> created_;
};

void Builder::elements(std::uint16_t type, std::uint16_t flags, const std::string& set_name,
                       const SetType& set_type, const std::vector<Element>& elements, bool add) {
  if (elements.empty()) {
    return;  // nothing to say; an empty element list is not worth a message
  }
  nl::SetPtr carrier = named_set(set_name);
  if (auto it = created_.find(set_name); it != created_.end()) {
    nftnl_set_set_u32(carrier.get(), NFTNL_SET_ID, it->second.id);
  }
  std::vector<codec::ElementPiece> all;
  all.reserve(elements.size() * (set_type.interval ? 2 : 1));
  for (const Element& e : elements) {
    for (codec::ElementPiece& p : codec::to_pieces(set_type, e, add)) {
      all.push_back(std::move(p));
    }
  }
  pieces(type, flags, carrier.get(), all);
}

// Fills messages with element pieces, starting a new message whenever the next piece
// would overflow the element list's u16 length or the message size limit.
void Builder::pieces(std::uint16_t type, std::uint16_t flags, nftnl_set* carrier,
                     const std::vector<codec::ElementPiece>& pieces) {
  const std::size_t limit = std::min(options_.max_message_bytes, kScratchBytes / 2);
  std::size_t i = 0;
  while (i < pieces.size()) {
    nlmsghdr* nlh = w_.start(type, flags);
    nftnl_set_elems_nlmsg_build_payload(nlh, carrier);  // table, set name, set id
    nlattr* list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
    std::size_t in_message = 0, elements = 0;
    for (; i < pieces.size(); ++i, ++in_message) {
      std::uint32_t before = nlh->nlmsg_len;
      nl::SetElemPtr elem(nftnl_set_elem_alloc());
      codec::encode_piece(elem.get(), pieces[i]);
      // Each element is an NFTA_LIST_ELEM nest, as the kernel dumps them (nft numbers
      // them 1, 2, …; the kernel ignores the type, libnftnl's parser insists on it).
      nftnl_set_elem_nlmsg_build(nlh, elem.get(), NFTA_LIST_ELEM);
      std::size_t nest =
          nlh->nlmsg_len - (reinterpret_cast<char*>(list) - reinterpret_cast<char*>(nlh));
      if (in_message > 0 && (nlh->nlmsg_len > limit || nest > kMaxNestBytes)) {
        nlh->nlmsg_len = before;  // does not fit: it opens the next message
        break;
      }
      elements += pieces[i].interval_end ? 0 : 1;
    }
    mnl_attr_nest_end(nlh, list);
    w_.finish(nlh, type, op_, elements);
  }
}

bool Builder::interval_set(const std::string& name) const {
  if (auto it = created_.find(name); it != created_.end()) {
    return it->second.type.interval;
  }
  if (options_.existing_set) {
    if (auto type = options_.existing_set(name)) {
      return type->interval;
    }
  }
  return false;
}

void Builder::operator()(const op::AddRule& o) {
  codec::RuleContext context{
      .interval_set = [this](const std::string& name) { return interval_set(name); },
      .l4proto_set_ids = {}};
  // `meta l4proto { tcp, udp }`: nft creates a constant anonymous set, fills it, and
  // binds it to the rule (the kernel deletes it with the rule).
  for (const Match& m : o.rule.matches) {
    const auto* l = std::get_if<L4protoMatch>(&m);
    if (l == nullptr || l->protocols.size() < 2) {
      continue;
    }
    std::uint32_t id = next_set_id_++;
    context.l4proto_set_ids.push_back(id);
    nl::SetPtr set(nftnl_set_alloc());
    codec::encode_l4proto_set(set.get(), tx_.table, l->protocols.size(), id);
    emit_set(NFT_MSG_NEWSET, kCreate, set.get());
    std::vector<codec::ElementPiece> keys;
    for (std::uint8_t proto : l->protocols) {
      keys.push_back(codec::ElementPiece{.key = {proto}});
    }
    pieces(NFT_MSG_NEWSETELEM, kCreate, set.get(), keys);
  }
  nl::RulePtr rule(nftnl_rule_alloc());
  codec::encode_rule(rule.get(), tx_.table, o.chain, o.rule, context);
  nlmsghdr* nlh = w_.start(NFT_MSG_NEWRULE, kCreate | NLM_F_APPEND);
  nftnl_rule_nlmsg_build_payload(nlh, rule.get());
  w_.finish(nlh, NFT_MSG_NEWRULE, op_);
}

}  // namespace

const BatchMessage* Batch::find(std::uint32_t seq) const {
  // Sequence numbers are consecutive (and may wrap around): the offset is the index.
  std::uint32_t index = seq - (messages.empty() ? 0 : messages.front().seq);
  return index < messages.size() ? &messages[index] : nullptr;
}

std::uint32_t Batch::next_seq() const {
  return messages.empty() ? 0 : messages.back().seq + 1;
}

Result<Batch> build_batch(const Transaction& transaction, const BatchOptions& options) {
  Batch batch;
  if (transaction.empty()) {
    return batch;
  }
  Builder(transaction, options, batch).run();
  return batch;
}

Batch build_empty_batch(std::uint32_t first_seq, std::optional<std::uint32_t> generation) {
  Batch batch;
  Writer w(batch, first_seq);
  w.finish(w.start_batch(NFNL_MSG_BATCH_BEGIN, generation), NFNL_MSG_BATCH_BEGIN, std::nullopt);
  w.finish(w.start_batch(NFNL_MSG_BATCH_END, std::nullopt), NFNL_MSG_BATCH_END, std::nullopt);
  return batch;
}

std::vector<std::string> sets_needing_types(const Transaction& transaction) {
  std::set<std::string> created, needed;
  for (const Op& op : transaction.ops) {
    if (const auto* add = std::get_if<op::AddSet>(&op)) {
      created.insert(add->name);
    } else if (const auto* rule = std::get_if<op::AddRule>(&op)) {
      for (const Match& m : rule->rule.matches) {
        const auto* p = std::get_if<PortSetMatch>(&m);
        if (p != nullptr && !created.contains(p->set)) {
          needed.insert(p->set);
        }
      }
    }
  }
  return {needed.begin(), needed.end()};
}

}  // namespace nft
