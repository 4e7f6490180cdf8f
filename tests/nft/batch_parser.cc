#include "batch_parser.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>
#include <map>

#include "nft/canonical.h"
#include "nft/expr_codec.h"
#include "nft/set_codec.h"

namespace nft::testing {
namespace {

std::string str(const char* s) {
  return s != nullptr ? s : "";
}

struct Parser {
  const Transaction& original;
  ParsedBatch out;
  // Anonymous sets of the batch, by NFTA_SET_ID.
  std::map<std::uint32_t, std::set<std::uint8_t>> anonymous;
  // Element pieces per op index, merged over the op's messages.
  std::map<std::size_t, std::vector<codec::ElementPiece>> pieces;

  void problem(const std::string& what) { out.problems.push_back(what); }

  void check_flags(const nlmsghdr* nlh, std::uint16_t type) {
    std::uint16_t f = nlh->nlmsg_flags;
    if ((f & NLM_F_REQUEST) == 0 || (f & NLM_F_ACK) == 0) {
      problem("message without REQUEST|ACK, type " + std::to_string(type));
    }
    bool creates = type == NFT_MSG_NEWSET || type == NFT_MSG_NEWCHAIN ||
                   type == NFT_MSG_NEWSETELEM || type == NFT_MSG_NEWRULE;
    if (creates && (f & (NLM_F_CREATE | NLM_F_EXCL)) != (NLM_F_CREATE | NLM_F_EXCL)) {
      problem("create without NLM_F_CREATE|NLM_F_EXCL, type " + std::to_string(type));
    }
    if (type == NFT_MSG_NEWTABLE && ((f & NLM_F_CREATE) == 0 || (f & NLM_F_EXCL) != 0)) {
      problem("add table must be idempotent (CREATE without EXCL)");
    }
  }

  void set(const nlmsghdr* nlh, std::size_t op) {
    nl::SetPtr s(nftnl_set_alloc());
    nftnl_set_nlmsg_parse(nlh, s.get());
    auto decoded = codec::decode_set(s.get());
    if (!decoded) {
      return problem(decoded.error().message);
    }
    if (decoded.value().anonymous) {
      anonymous[nftnl_set_get_u32(s.get(), NFTNL_SET_ID)];
      return;
    }
    out.transaction.ops.push_back(op::AddSet{decoded.value().name, decoded.value().type});
    (void)op;
  }

  void elements(const nlmsghdr* nlh, std::size_t op) {
    nl::SetPtr s(nftnl_set_alloc());
    nftnl_set_elems_nlmsg_parse(nlh, s.get());
    std::vector<codec::ElementPiece> got;
    nftnl_set_elem_foreach(
        s.get(),
        [](nftnl_set_elem* e, void* data) {
          auto piece = codec::decode_piece(e);
          if (piece) {
            static_cast<std::vector<codec::ElementPiece>*>(data)->push_back(piece.value());
          }
          return 0;
        },
        &got);
    if (str(nftnl_set_get_str(s.get(), NFTNL_SET_NAME)) == codec::kAnonymousSetName) {
      auto& protocols = anonymous[nftnl_set_get_u32(s.get(), NFTNL_SET_ID)];
      for (const auto& p : got) {
        protocols.insert(p.key.at(0));
      }
      return;
    }
    auto& all = pieces[op];
    all.insert(all.end(), got.begin(), got.end());
  }

  void finish_elements(std::size_t op) {
    auto it = pieces.find(op);
    if (it == pieces.end()) {
      return;
    }
    const Op& o = original.ops.at(op);
    bool add = std::holds_alternative<op::AddElements>(o);
    const auto& name = add ? std::get<op::AddElements>(o).set : std::get<op::DeleteElements>(o).set;
    const auto& type =
        add ? std::get<op::AddElements>(o).type : std::get<op::DeleteElements>(o).type;
    auto elements = codec::from_pieces(type, it->second, add);
    if (!elements) {
      return problem(elements.error().message);
    }
    std::vector<Element> sorted = elements.value();
    std::sort(sorted.begin(), sorted.end(), ElementOrder{});
    if (add) {
      out.transaction.ops.push_back(op::AddElements{name, type, sorted});
    } else {
      out.transaction.ops.push_back(op::DeleteElements{name, type, sorted});
    }
  }

  void chain(const nlmsghdr* nlh, std::uint16_t type) {
    nl::ChainPtr c(nftnl_chain_alloc());
    nftnl_chain_nlmsg_parse(nlh, c.get());
    std::string name = str(nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME));
    if (type == NFT_MSG_DELCHAIN) {
      out.transaction.ops.push_back(op::DeleteChain{name});
      return;
    }
    op::AddChain add{name, std::nullopt};
    if (nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM)) {
      std::uint32_t hook = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM);
      add.base = BaseChain{.hook = hook == NF_INET_LOCAL_IN  ? Hook::input
                                   : hook == NF_INET_FORWARD ? Hook::forward
                                                             : Hook::output,
                           .priority = nftnl_chain_get_s32(c.get(), NFTNL_CHAIN_PRIO),
                           .policy = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_POLICY) == NF_ACCEPT
                                         ? ChainPolicy::accept
                                         : ChainPolicy::drop};
      if (str(nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TYPE)) != "filter") {
        problem("base chain type is not filter");
      }
    }
    out.transaction.ops.push_back(add);
  }

  void rule(const nlmsghdr* nlh, std::uint16_t type) {
    nl::RulePtr r(nftnl_rule_alloc());
    nftnl_rule_nlmsg_parse(nlh, r.get());
    std::string chain = str(nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN));
    if (type == NFT_MSG_DELRULE) {
      out.transaction.ops.push_back(op::FlushChain{chain});
      return;
    }
    codec::AnonymousSetResolver resolve =
        [this](std::string_view, std::optional<std::uint32_t> id) -> const std::set<std::uint8_t>* {
      auto it = id ? anonymous.find(*id) : anonymous.end();
      return it != anonymous.end() ? &it->second : nullptr;
    };
    auto decoded = codec::decode_rule(r.get(), resolve);
    if (!decoded) {
      return problem(decoded.error().message);
    }
    out.transaction.ops.push_back(op::AddRule{chain, decoded.value()});
  }

  void message(const nlmsghdr* nlh, const BatchMessage& m) {
    auto type = static_cast<std::uint16_t>(nlh->nlmsg_type & 0xff);
    check_flags(nlh, type);
    std::size_t op = *m.op_index;
    switch (type) {
      case NFT_MSG_NEWTABLE:
        out.transaction.ops.push_back(op::AddTable{});
        break;
      case NFT_MSG_DELTABLE:
        out.transaction.ops.push_back(op::DeleteTable{});
        break;
      case NFT_MSG_NEWSET:
        set(nlh, op);
        break;
      case NFT_MSG_DELSET: {
        nl::SetPtr s(nftnl_set_alloc());
        nftnl_set_nlmsg_parse(nlh, s.get());
        out.transaction.ops.push_back(
            op::DeleteSet{str(nftnl_set_get_str(s.get(), NFTNL_SET_NAME)), {}});
        break;
      }
      case NFT_MSG_NEWSETELEM:
      case NFT_MSG_DELSETELEM:
        elements(nlh, op);
        break;
      case NFT_MSG_NEWCHAIN:
      case NFT_MSG_DELCHAIN:
        chain(nlh, type);
        break;
      default:
        rule(nlh, type);
    }
  }
};

}  // namespace

ParsedBatch parse_batch(const Batch& batch, const Transaction& original) {
  Parser p{original, {}, {}, {}};
  p.out.transaction.table = original.table;
  std::optional<std::size_t> last_op;
  for (std::size_t i = 0; i < batch.messages.size(); ++i) {
    const BatchMessage& m = batch.messages[i];
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(batch.bytes.data() + m.offset);
    if (nlh->nlmsg_seq != m.seq || nlh->nlmsg_len != m.length) {
      p.problem("message header does not match its record");
    }
    if (i > 0 && m.seq != batch.messages[i - 1].seq + 1) {
      p.problem("sequence numbers are not consecutive");
    }
    bool edge = i == 0 || i + 1 == batch.messages.size();
    if (edge != !m.op_index) {
      p.problem("only batch begin and end lack an op index");
    }
    if (edge) {
      std::uint16_t want = i == 0 ? NFNL_MSG_BATCH_BEGIN : NFNL_MSG_BATCH_END;
      if (nlh->nlmsg_type != want) {
        p.problem("batch does not start with BEGIN and end with END");
      }
      continue;
    }
    if (last_op && *last_op != *m.op_index) {
      p.finish_elements(*last_op);
    }
    last_op = m.op_index;
    p.message(nlh, m);
  }
  if (last_op) {
    p.finish_elements(*last_op);
  }
  return std::move(p.out);
}

Transaction expected_parse(const Transaction& tx) {
  Transaction out{.table = tx.table, .ops = {}};
  for (const Op& o : tx.ops) {
    if (const auto* d = std::get_if<op::DeleteSet>(&o)) {
      out.ops.push_back(op::DeleteSet{d->name, {}});
    } else if (const auto* a = std::get_if<op::AddElements>(&o)) {
      if (a->elements.empty()) continue;
      op::AddElements sorted = *a;
      std::sort(sorted.elements.begin(), sorted.elements.end(), ElementOrder{});
      out.ops.push_back(sorted);
    } else if (const auto* del = std::get_if<op::DeleteElements>(&o)) {
      if (del->elements.empty()) continue;
      op::DeleteElements sorted = *del;
      for (Element& e : sorted.elements) e.verdict.reset();
      std::sort(sorted.elements.begin(), sorted.elements.end(), ElementOrder{});
      out.ops.push_back(sorted);
    } else if (const auto* r = std::get_if<op::AddRule>(&o)) {
      out.ops.push_back(op::AddRule{r->chain, canonical(r->rule)});
    } else {
      out.ops.push_back(o);
    }
  }
  return out;
}

}  // namespace nft::testing
