#include "nft/table_reader.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <iterator>

#include "nft/expr_codec.h"
#include "nft/set_codec.h"

namespace nft {
namespace {

struct PieceCollector {
  std::vector<codec::ElementPiece> pieces;
  std::optional<Error> error;
};

int collect_piece(nftnl_set_elem* elem, void* data) {
  auto* c = static_cast<PieceCollector*>(data);
  auto piece = codec::decode_piece(elem);
  if (!piece) {
    c->error = piece.error();
    return -1;
  }
  c->pieces.push_back(piece.value());
  return 0;
}

std::optional<Hook> hook_of(std::uint32_t number) {
  switch (number) {
    case NF_INET_LOCAL_IN:
      return Hook::input;
    case NF_INET_FORWARD:
      return Hook::forward;
    case NF_INET_LOCAL_OUT:
      return Hook::output;
    default:
      return std::nullopt;
  }
}

std::string str(const char* s) {
  return s != nullptr ? s : "";
}

Result<std::optional<BaseChain>> base_of(const nftnl_chain* chain) {
  if (!nftnl_chain_is_set(chain, NFTNL_CHAIN_HOOKNUM)) {
    return std::optional<BaseChain>();
  }
  auto hook = hook_of(nftnl_chain_get_u32(chain, NFTNL_CHAIN_HOOKNUM));
  std::uint32_t policy = nftnl_chain_get_u32(chain, NFTNL_CHAIN_POLICY);
  if (!hook || str(nftnl_chain_get_str(chain, NFTNL_CHAIN_TYPE)) != "filter" ||
      (policy != NF_ACCEPT && policy != NF_DROP) || nftnl_chain_is_set(chain, NFTNL_CHAIN_DEV)) {
    return make_error(Errc::conflict,
                      "base chain other than `type filter` on input/forward/output");
  }
  return std::optional<BaseChain>(
      BaseChain{.hook = *hook,
                .priority = nftnl_chain_get_s32(chain, NFTNL_CHAIN_PRIO),
                .policy = policy == NF_ACCEPT ? ChainPolicy::accept : ChainPolicy::drop});
}

}  // namespace

void TableReader::taint(ObjectRef ref, std::string why) {
  out_.foreign.push_back(std::move(why));
  if (std::find(out_.tainted.begin(), out_.tainted.end(), ref) == out_.tainted.end()) {
    out_.tainted.push_back(std::move(ref));
  }
}

void TableReader::add_set(nftnl_set* set) {
  auto decoded = codec::decode_set(set);
  std::string name = str(nftnl_set_get_str(set, NFTNL_SET_NAME));
  if (!decoded) {
    taint(ObjectRef::set(name), decoded.error().message);
    return;
  }
  PieceCollector c;
  nftnl_set_elem_foreach(set, collect_piece, &c);
  if (c.error) {
    taint(ObjectRef::set(name), "set " + name + ": " + c.error->message);
    return;
  }
  const codec::DecodedSet& d = decoded.value();
  if (d.anonymous) {
    // Only `meta l4proto { … }` creates anonymous sets; rules resolve them by name.
    if (d.type.key == std::vector<KeyType>{KeyType::inet_proto} && !d.type.interval &&
        !d.type.verdict_map) {
      auto& protocols = anonymous_[name];
      for (const codec::ElementPiece& p : c.pieces) {
        protocols.insert(p.key.at(0));
      }
    }
    return;
  }
  std::size_t repeated = 0;
  auto elements = codec::from_pieces(d.type, std::move(c.pieces), true, &repeated);
  if (!elements) {
    taint(ObjectRef::set(name), "set " + name + ": " + elements.error().message);
    return;
  }
  Set out{.name = name, .type = d.type};
  out.elements.insert(std::make_move_iterator(elements.value().begin()),
                      std::make_move_iterator(elements.value().end()));
  // Elements with the same key (a plain set or map holds each key once) were repeated.
  repeated_ += repeated + (elements.value().size() - out.elements.size());
  out_.program.put(std::move(out));
}

void TableReader::add_chain(const nftnl_chain* chain) {
  std::string name = str(nftnl_chain_get_str(chain, NFTNL_CHAIN_NAME));
  auto base = base_of(chain);
  if (!base) {
    taint(ObjectRef::chain(name), "chain " + name + ": " + base.error().message);
    return;
  }
  out_.program.put(Chain{.name = name, .base = base.value()});
}

void TableReader::add_rule(const nftnl_rule* rule) {
  std::string chain = str(nftnl_rule_get_str(rule, NFTNL_RULE_CHAIN));
  auto it = out_.program.chains.find(chain);
  if (it == out_.program.chains.end()) {
    taint(ObjectRef::chain(chain), "rule in undecodable chain " + chain);
    return;
  }
  codec::AnonymousSetResolver resolve =
      [this](std::string_view set, std::optional<std::uint32_t>) -> const std::set<std::uint8_t>* {
    auto found = anonymous_.find(set);
    return found != anonymous_.end() ? &found->second : nullptr;
  };
  auto decoded = codec::decode_rule(rule, resolve);
  if (!decoded) {
    std::string handle = std::to_string(nftnl_rule_get_u64(rule, NFTNL_RULE_HANDLE));
    taint(ObjectRef::chain(chain),
          "chain " + chain + " rule handle " + handle + ": " + decoded.error().message);
    return;
  }
  it->second.rules.push_back(std::move(decoded).value());
}

ReadBack TableReader::finish() && {
  return std::move(out_);
}

}  // namespace nft
