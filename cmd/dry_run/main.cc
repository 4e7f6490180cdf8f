// policy-dry-run: what would these Kubernetes NetworkPolicies allow? No cluster, no root.
#include <CLI/CLI.hpp>
#include <iostream>
#include <map>

#include "commands.h"

namespace {

using namespace dry_run;

constexpr const char* kExitCodes =
    "Exit codes: 0 allowed / valid / no change; 1 denied (eval), invalid (validate) or changed\n"
    "(diff); 2 usage error; 3 the manifests could not be loaded or contain invalid objects.";

void add_input(CLI::App* cmd, InputOptions& in, const char* flag = "-f,--filename") {
  cmd->add_option(flag, in.paths,
                  "Manifests: YAML or JSON files, directories (recursive), or - for stdin. "
                  "Namespaces, pods and NetworkPolicies are read; `kubectl get ns,pods,netpol "
                  "-A -o yaml` output works as is")
      ->required()
      ->expected(1, -1);
  cmd->add_flag("--skip-invalid", in.skip_invalid,
                "Leave invalid objects out (reported on stderr) instead of stopping");
}

void add_format(CLI::App* cmd, std::string& fmt, bool tables) {
  cmd->add_option("-o,--output", fmt,
                  tables ? "Output: text, json, md or csv" : "Output: text or json")
      ->check(tables ? CLI::IsMember({"text", "json", "md", "csv"})
                     : CLI::IsMember({"text", "json"}));
}

// --port N[/PROTO] [--protocol P], in the order given: a --protocol applies to the --port
// before it.
bool collect_ports(CLI::App* cmd, std::vector<PortProto>& out, std::string& error) {
  std::map<const CLI::Option*, size_t> next;  // parse_order lists an option once per use
  for (CLI::Option* opt : cmd->parse_order()) {
    const auto name = opt->get_name();
    if (name != "--port" && name != "--protocol") continue;
    const auto& values = opt->results();
    const std::string v = values.at(next[opt]++);
    if (name == "--protocol") {
      auto p = policy::parse_protocol(v);
      if (!p || out.empty()) {
        error =
            out.empty() ? "--protocol must follow a --port" : "--protocol must be TCP, UDP or SCTP";
        return false;
      }
      out.back().protocol = *p;
      continue;
    }
    const auto slash = v.find('/');
    const std::string num = v.substr(0, slash);
    PortProto pp;
    if (num.empty() || num.size() > 5 || num.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(num) < 1 || std::stoi(num) > 65535) {
      error = "--port must be a number from 1 to 65535 (optionally N/PROTOCOL), not " + v;
      return false;
    }
    pp.port = static_cast<uint16_t>(std::stoi(num));
    if (slash != std::string::npos) {
      auto p = policy::parse_protocol(v.substr(slash + 1));
      if (!p) {
        error = "unknown protocol in --port " + v;
        return false;
      }
      pp.protocol = *p;
    }
    out.push_back(pp);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "policy-dry-run: answers what Kubernetes NetworkPolicies (networking.k8s.io/v1) allow, from "
      "manifests or a cluster snapshot, without a cluster or root.\n"};
  app.footer(kExitCodes);
  app.require_subcommand(1, 1);
  std::string fmt = "text";

  EvalOptions eval;
  auto* e = app.add_subcommand("eval", "Is one flow allowed, and why?");
  add_input(e, eval.input);
  e->add_option("--from", eval.from, "Source: NAMESPACE/POD or an IP address")->required();
  e->add_option("--to", eval.to, "Destination: NAMESPACE/POD or an IP address")->required();
  e->add_option("--port", eval.port,
                "Destination port: a number or a named port of the "
                "destination pod")
      ->required();
  e->add_option("--protocol", eval.protocol, "TCP (default), UDP or SCTP");
  e->add_option("--family", eval.family, "Address family for dual-stack pods: ipv4, ipv6, auto");
  e->add_flag("--explain", eval.explain, "Say which policy, rule, peer and port decided");
  add_format(e, fmt, false);
  e->footer(kExitCodes);

  MatrixOptions matrix;
  auto* m = app.add_subcommand("matrix", "Reachability of every ordered pair of pods");
  add_input(m, matrix.input);
  m->add_option("--port",
                "Port to probe, N or N/PROTOCOL; repeat for several (default: every "
                "port the input mentions)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  m->add_option("--protocol", "Protocol of the --port before it: TCP (default), UDP, SCTP")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  m->add_option("--family", matrix.family, "Address family for dual-stack pods: ipv4, ipv6, auto");
  add_format(m, fmt, true);
  m->footer(kExitCodes);

  DiffOptions diff;
  auto* d = app.add_subcommand("diff", "Flows whose verdict changes between two sets of manifests");
  add_input(d, diff.base);
  d->add_option("--with", diff.with.paths, "The new manifests (same forms as -f)")
      ->required()
      ->expected(1, -1);
  d->add_option("--port",
                "Restrict to this port, N or N/PROTOCOL; repeatable (default: every "
                "port the policies and pods mention)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  d->add_option("--protocol", "Protocol of the --port before it")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  d->add_option("--family", diff.family, "Address family for dual-stack pods: ipv4, ipv6, auto");
  add_format(d, fmt, true);
  d->footer(kExitCodes);

  ValidateOptions validate;
  auto* v = app.add_subcommand("validate", "Check manifests as the API server would, plus lint");
  add_input(v, validate.input);
  v->add_flag("--warnings-as-errors", validate.warnings_as_errors, "Exit 1 on warnings too");
  add_format(v, fmt, false);
  v->footer(kExitCodes);

  CompileOptions compile;
  auto* c = app.add_subcommand(
      "compile", "The nftables program a node would get (nft syntax; `nft -c -f` accepts it)");
  add_input(c, compile.input);
  c->add_option("--node", compile.node, "Node name (spec.nodeName of its pods)")->required();
  c->add_option("--table", compile.table, "Name of the inet table (default nftpolicy)");
  c->add_flag("--judge-node-traffic", compile.judge_node_traffic,
              "Apply ingress policies to connections from the node itself too (by default the "
              "node, e.g. kubelet probes, reaches its pods)");
  c->add_flag("--no-counters", compile.no_counters, "No counters on the drop rules");
  add_format(c, fmt, false);
  c->footer(kExitCodes);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    const int rc = app.exit(err);
    return rc == 0 ? kOk : kUsage;
  }
  const Format format = *parse_format(fmt, true);
  std::string error;
  try {
    if (e->parsed()) {
      eval.format = format;
      return run_eval(eval);
    }
    if (m->parsed()) {
      matrix.format = format;
      if (!collect_ports(m, matrix.ports, error)) throw CLI::ValidationError("--port", error);
      return run_matrix(matrix);
    }
    if (d->parsed()) {
      diff.format = format;
      diff.base.skip_invalid = diff.with.skip_invalid = diff.base.skip_invalid;
      if (!collect_ports(d, diff.ports, error)) throw CLI::ValidationError("--port", error);
      return run_diff(diff);
    }
    if (c->parsed()) {
      compile.format = format;
      return run_compile(compile);
    }
    validate.format = format;
    return run_validate(validate);
  } catch (const CLI::ValidationError& err) {
    std::cerr << "error: " << error << "\n";
    return kUsage;
  }
}
