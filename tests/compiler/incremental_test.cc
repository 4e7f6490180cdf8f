// Incremental compile: on random clusters and random changes of pods on other nodes, the
// element operations update_peer_sets() gives turn the old program into exactly what
// compile() gives for the new cluster — or it says the change needs a compile.
#include "compiler/incremental.h"

#include <gtest/gtest.h>

#include <random>

#include "nft/render.h"
#include "random_cluster.h"

namespace {

using compiler::PodChange;
using policy::Pod;

// A random change of pods NOT on `node`: relabel (labels of another pod), delete, add a copy
// under a new name and address, finish, or move one pod's address to another pod.
void mutate(policy::Cluster& c, const std::string& node, std::mt19937_64& rnd) {
  std::vector<std::size_t> others;
  for (std::size_t i = 0; i < c.pods.size(); ++i) {
    if (c.pods[i].node != node) others.push_back(i);
  }
  if (others.empty()) return;
  auto pick = [&] { return others[rnd() % others.size()]; };
  const int n = 1 + static_cast<int>(rnd() % 3);
  for (int k = 0; k < n; ++k) {
    Pod& p = c.pods[pick()];
    switch (rnd() % 5) {
      case 0:
        p.labels = c.pods[rnd() % c.pods.size()].labels;
        break;
      case 1:
        p.phase = "Succeeded";
        break;
      case 2: {
        Pod copy = c.pods[rnd() % c.pods.size()];
        copy.name = "added-" + std::to_string(rnd() % 100000);
        copy.node = p.node;
        copy.host_network = false;
        copy.ips = {*common::IpAddr::parse("10.99." + std::to_string(rnd() % 200) + "." +
                                           std::to_string(1 + rnd() % 250))};
        copy.created = 2'000'000'000;
        c.pods.push_back(copy);
        return;  // the reference into pods is gone
      }
      case 3:
        p.ips = c.pods[pick()].ips;  // takes another pod's address (the newer wins)
        p.created = 2'000'000'001;
        break;
      default: {
        const auto i = pick();
        c.pods.erase(c.pods.begin() + static_cast<long>(i));
        return;
      }
    }
  }
}

std::vector<PodChange> changes(const policy::Cluster& before, const policy::Cluster& after) {
  std::map<std::string, PodChange> by_key;
  for (const auto& p : before.pods) by_key[p.key()].before = p;
  for (const auto& p : after.pods) by_key[p.key()].after = p;
  std::vector<PodChange> out;
  for (auto& [_, c] : by_key) {
    if (c.before != c.after) out.push_back(std::move(c));
  }
  return out;
}

int seeds() {
  if (const char* env = std::getenv("NFTPOLICY_PROPERTY_SEEDS")) return std::atoi(env);
  return 1000;
}

TEST(Incremental, ElementOperationsEqualACompileOfTheNewCluster) {
  int handled = 0, compiled_again = 0;
  for (int seed = 0; seed < seeds(); ++seed) {
    std::mt19937_64 rnd(static_cast<std::uint64_t>(seed) * 7919 + 1);
    policy::Cluster c = compiler_test::random_cluster(static_cast<std::uint64_t>(seed));
    for (const char* node : {"n1", "n2"}) {
      auto current = compiler::compile(c, node);
      policy::Cluster now = c;
      for (int round = 0; round < 4; ++round) {
        policy::Cluster next = now;
        mutate(next, node, rnd);
        next.finalize();
        const auto tx = compiler::update_peer_sets(current.program, current.recipes, next,
                                                   changes(now, next), node);
        auto full = compiler::compile(next, node);
        if (!tx) {
          ++compiled_again;
        } else {
          ++handled;
          ASSERT_TRUE(tx->only_elements());
          nft::Program patched = current.program;
          ASSERT_TRUE(nft::apply_elements(patched, *tx));
          ASSERT_EQ(patched, full.program)
              << "seed " << seed << " node " << node << " round " << round << "\nops:\n"
              << nft::render(*tx) << "\nwanted:\n"
              << nft::render(full.program) << "\ngot:\n"
              << nft::render(patched);
        }
        current = std::move(full);
        now = std::move(next);
      }
    }
  }
  // Not vacuous: most changes of other nodes' pods must take the incremental path.
  EXPECT_GT(handled, compiled_again) << handled << " handled, " << compiled_again << " compiled";
}

TEST(Incremental, ChangesOfThisNodeOrItsFamiliesCompileAgain) {
  policy::Cluster c = compiler_test::random_cluster(3);
  const auto compiled = compiler::compile(c, "n1");
  for (const auto& p : c.pods) {
    if (p.node != "n1") continue;
    Pod moved = p;
    moved.labels["changed"] = "yes";
    EXPECT_FALSE(compiler::update_peer_sets(compiled.program, compiled.recipes, c,
                                            {{.before = p, .after = moved}}, "n1"));
    break;
  }
  Pod v6{.namespace_ = "x",
         .name = "new-v6",
         .node = "n2",
         .phase = "Running",
         .ips = {*common::IpAddr::parse("fd00:99::1")}};
  policy::Cluster with_v6 = c;
  with_v6.pods.push_back(v6);
  with_v6.finalize();
  if (compiled.recipes.families.count(common::Family::kV6) == 0) {
    EXPECT_FALSE(compiler::update_peer_sets(compiled.program, compiled.recipes, with_v6,
                                            {{.after = v6}}, "n1"));
  }
}

}  // namespace
