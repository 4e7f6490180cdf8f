#include "nft/canonical.h"

#include <optional>

namespace nft {
namespace {

// The protocol context nft tracks while linearizing a rule: which network protocol and
// which transport protocol earlier matches have pinned down.
struct Context {
  std::optional<Family> network;
  std::optional<std::uint8_t> transport;
};

std::optional<Family> network_of(const Match& m) {
  if (const auto* a = std::get_if<AddrSetMatch>(&m)) {
    return a->family;
  }
  return std::nullopt;
}

bool is_tcp_flags(const Match& m) {
  return std::holds_alternative<TcpFlagsMatch>(m);
}

// Whether match `i` only restates the dependency of the match that follows it.
bool redundant(const Rule& rule, std::size_t i, const Context& ctx) {
  const Match& m = rule.matches[i];
  const Match* next = i + 1 < rule.matches.size() ? &rule.matches[i + 1] : nullptr;
  if (const auto* n = std::get_if<NfprotoMatch>(&m)) {
    if (ctx.network == n->family) {
      return false;
    }
    if (next != nullptr) {
      return network_of(*next) == n->family;
    }
    const auto* vmap = std::get_if<VmapDispatch>(&rule.statement);
    return vmap != nullptr && !rule.counter && vmap->family == n->family;
  }
  if (const auto* l = std::get_if<L4protoMatch>(&m)) {
    bool tcp = !l->negate && l->protocols == std::set<std::uint8_t>{kProtoTcp};
    return tcp && ctx.transport != kProtoTcp && next != nullptr && is_tcp_flags(*next);
  }
  return false;
}

void update(Context& ctx, const Match& m) {
  if (const auto* n = std::get_if<NfprotoMatch>(&m)) {
    ctx.network = n->family;
  } else if (const auto* a = std::get_if<AddrSetMatch>(&m)) {
    ctx.network = a->family;
  } else if (const auto* l = std::get_if<L4protoMatch>(&m)) {
    if (!l->negate && l->protocols.size() == 1) {
      ctx.transport = *l->protocols.begin();
    }
  } else if (is_tcp_flags(m)) {
    ctx.transport = kProtoTcp;
  }
}

}  // namespace

Rule canonical(Rule rule) {
  Context ctx;
  std::vector<Match> kept;
  kept.reserve(rule.matches.size());
  for (std::size_t i = 0; i < rule.matches.size(); ++i) {
    bool drop = redundant(rule, i, ctx);
    update(ctx, rule.matches[i]);
    if (!drop) {
      kept.push_back(rule.matches[i]);
    }
  }
  rule.matches = std::move(kept);
  return rule;
}

Program canonical(Program program) {
  for (auto& entry : program.chains) {
    for (Rule& rule : entry.second.rules) {
      rule = canonical(std::move(rule));
    }
  }
  return program;
}

bool is_canonical(const Program& program) {
  for (const auto& entry : program.chains) {
    for (const Rule& rule : entry.second.rules) {
      if (canonical(rule) != rule) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace nft
