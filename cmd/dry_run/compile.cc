#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "compiler/compiler.h"
#include "nft/render.h"
#include "nft/validate.h"

namespace dry_run {

int run_compile(const CompileOptions& o) {
  const auto loaded = load_input(o.input);
  if (!loaded) return kInput;
  const auto& cluster = loaded->cluster;
  const bool known = std::any_of(cluster.pods.begin(), cluster.pods.end(),
                                 [&](const policy::Pod& p) { return p.node == o.node; });
  if (!known) std::cerr << "warning: no pod of the input runs on node " << o.node << "\n";
  const auto compiled = compiler::compile(
      cluster, o.node,
      {.table = o.table, .allow_node_traffic = !o.judge_node_traffic, .counters = !o.no_counters});
  if (auto st = nft::validate(compiled.program); !st) {
    // A compiler bug, not a user error: say so loudly rather than print a broken program.
    std::cerr << "internal error: the compiled program is invalid: " << st.error().to_string()
              << "\n";
    return kInput;
  }
  const auto& s = compiled.stats;
  if (o.format == Format::kJson) {
    nlohmann::json j = {{"node", o.node},
                        {"table", o.table},
                        {"pods", s.node_pods},
                        {"isolated_ingress", s.isolated_ingress},
                        {"isolated_egress", s.isolated_egress},
                        {"chains", s.chains},
                        {"rules", s.rules},
                        {"sets", s.sets},
                        {"elements", s.elements},
                        {"nft", nft::render(compiled.program)}};
    std::cout << j.dump(2) << "\n";
    return kOk;
  }
  std::cout << "# nftpolicy program for node " << o.node << ": " << s.node_pods << " pod(s), "
            << s.isolated_ingress << " isolated for ingress, " << s.isolated_egress
            << " for egress; " << s.chains << " chains, " << s.rules << " rules, " << s.sets
            << " sets and maps, " << s.elements << " elements\n"
            << nft::render(compiled.program);
  return kOk;
}

}  // namespace dry_run
