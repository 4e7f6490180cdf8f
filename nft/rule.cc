#include "nft/rule.h"

namespace nft {
namespace {

struct SetCollector {
  std::vector<std::string>& out;
  void operator()(const AddrSetMatch& m) const { out.push_back(m.set); }
  void operator()(const PortSetMatch& m) const { out.push_back(m.set); }
  void operator()(const auto&) const {}
};

}  // namespace

std::vector<std::string> sets_used_by(const Rule& rule) {
  std::vector<std::string> out;
  for (const Match& m : rule.matches) {
    std::visit(SetCollector{out}, m);
  }
  if (const auto* vmap = std::get_if<VmapDispatch>(&rule.statement)) {
    out.push_back(vmap->map);
  }
  return out;
}

std::vector<std::string> chains_targeted_by(const Rule& rule) {
  const auto* verdict = std::get_if<Verdict>(&rule.statement);
  if (verdict == nullptr || !verdict->targets_chain()) {
    return {};
  }
  return {verdict->chain};
}

}  // namespace nft
