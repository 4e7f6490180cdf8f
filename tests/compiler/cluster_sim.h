// The kernel's view of a whole cluster, in userspace: one compiled program per node, and a
// packet crossing the hooks it would cross — the source node's forward hook (egress of the
// source pod), then the destination node's (ingress of the destination pod); on one node it
// is a single pass. What the interpreter answers here must be what the evaluator answers.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "compiler/compiler.h"
#include "compiler/interpreter.h"
#include "policy/evaluator.h"

namespace compiler_test {

class ClusterSim {
 public:
  ClusterSim(const policy::Cluster& cluster, const compiler::Options& options = {})
      : cluster_(cluster) {
    for (const auto& pod : cluster.pods) {
      if (!pod.node.empty() && !programs_.count(pod.node))
        programs_.emplace(pod.node, compiler::compile(cluster, pod.node, options).program);
    }
  }

  // A new connection from `src` to `dst` (pods or outside addresses; flow addresses must be
  // set). `trace`, when given, receives the rules that matched.
  bool allowed(const policy::Flow& flow, std::string* trace = nullptr) const {
    const std::string src_node = node_of(flow.src);
    const std::string dst_node = node_of(flow.dst);
    compiler::Packet p{.hook = nft::Hook::forward,
                       .saddr = *flow.src.ip,
                       .daddr = *flow.dst.ip,
                       .l4proto = static_cast<std::uint8_t>(flow.protocol),
                       .dport = flow.port};
    if (!pass(src_node, p, trace)) return false;
    return dst_node == src_node || pass(dst_node, p, trace);
  }

  const nft::Program* program(const std::string& node) const {
    auto it = programs_.find(node);
    return it == programs_.end() ? nullptr : &it->second;
  }

 private:
  static std::string node_of(const policy::Endpoint& e) {
    return e.pod && !e.pod->host_network ? e.pod->node : std::string();
  }

  bool pass(const std::string& node, const compiler::Packet& p, std::string* trace) const {
    const nft::Program* prog = program(node);
    if (!prog) return true;  // outside the cluster, or a node without pods: no enforcement
    const auto out = compiler::run(*prog, p, trace != nullptr);
    if (trace) {
      for (const auto& line : out.trace) *trace += node + ": " + line + "\n";
    }
    return out.accepted;
  }

  const policy::Cluster& cluster_;
  std::map<std::string, nft::Program> programs_;
};

}  // namespace compiler_test
