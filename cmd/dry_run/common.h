// Shared pieces of the policy-dry-run subcommands: loading input, resolving endpoints,
// output formats and exit codes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "policy/evaluator.h"
#include "policy/loader.h"

namespace dry_run {

// Exit codes (documented in --help and the README).
enum Exit : int {
  kOk = 0,        // allowed / valid / no difference
  kNegative = 1,  // eval: denied; validate: errors; diff: verdicts changed
  kUsage = 2,     // bad flags or an unknown pod
  kInput = 3,     // the manifests could not be loaded (unreadable, malformed or invalid)
};

enum class Format { kText, kJson, kMarkdown, kCsv };
std::optional<Format> parse_format(const std::string& s, bool tables);

struct InputOptions {
  std::vector<std::string> paths;
  bool skip_invalid = false;
};

// Loads the manifests; prints errors to stderr. Returns nullopt (exit kInput) when any object
// is invalid, unless skip_invalid (then they are reported and left out).
std::optional<policy::LoadResult> load_input(const InputOptions& in, const char* what = "input");

// "ns/pod" or an IP address (resolved to the pod that has it, when one does).
std::optional<policy::Endpoint> resolve_endpoint(const policy::Cluster& c, const std::string& s,
                                                 std::string& error);

// Port/protocol pairs to report on: the given ones, else every port the policies and pods of
// the clusters mention.
struct PortProto {
  uint16_t port = 0;
  policy::Protocol protocol = policy::Protocol::kTCP;
  auto operator<=>(const PortProto&) const = default;
  std::string str() const { return std::to_string(port) + "/" + policy::to_string(protocol); }
};
std::vector<PortProto> mentioned_ports(const std::vector<const policy::Cluster*>& clusters);

// Pods that take part in matrices: not hostNetwork and not finished.
std::vector<const policy::Pod*> matrix_pods(const policy::Cluster& c);

std::optional<common::Family> parse_family(const std::string& s, std::string& error);

// Table output shared by matrix and diff.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};
std::string render_table(const Table& t, Format f);

}  // namespace dry_run
