// The policy-dry-run subcommands. Each returns a process exit code (see common.h).
#pragma once

#include <string>
#include <vector>

#include "common.h"

namespace dry_run {

struct EvalOptions {
  InputOptions input;
  std::string from;
  std::string to;
  std::string port;      // a number or a named port of the destination pod
  std::string protocol;  // empty: TCP, or the named port's protocol
  std::string family;
  bool explain = false;
  Format format = Format::kText;
};
int run_eval(const EvalOptions& o);

struct MatrixOptions {
  InputOptions input;
  std::vector<PortProto> ports;  // empty: every port the input mentions
  std::string family;
  Format format = Format::kText;
};
int run_matrix(const MatrixOptions& o);

struct DiffOptions {
  InputOptions base;
  InputOptions with;
  std::vector<PortProto> ports;
  std::string family;
  Format format = Format::kText;
};
int run_diff(const DiffOptions& o);

struct ValidateOptions {
  InputOptions input;
  bool warnings_as_errors = false;
  Format format = Format::kText;
};
int run_validate(const ValidateOptions& o);

struct CompileOptions {
  InputOptions input;
  std::string node;
  std::string table = "nftpolicy";
  bool judge_node_traffic = false;
  bool no_counters = false;
  Format format = Format::kText;
};
int run_compile(const CompileOptions& o);

}  // namespace dry_run
