#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "policy/lint.h"

namespace dry_run {
namespace {

nlohmann::json diag_json(const policy::Diagnostic& d) {
  return {{"source", d.source},
          {"object", d.object},
          {"field", d.error.field},
          {"message", d.error.message}};
}

std::string summary(const policy::LoadResult& r, size_t warnings) {
  const auto& c = r.cluster;
  std::string s = std::to_string(r.files) + " file(s), " + std::to_string(r.documents) +
                  " document(s): " + std::to_string(c.namespaces.size()) + " namespace(s), " +
                  std::to_string(c.pods.size()) + " pod(s), " + std::to_string(c.policies.size()) +
                  " network polic" + (c.policies.size() == 1 ? "y" : "ies");
  for (const auto& [kind, n] : r.skipped_kinds) {
    s += "; skipped " + std::to_string(n) + " " + kind;
  }
  return s + "; " + std::to_string(r.errors.size()) + " error(s), " + std::to_string(warnings) +
         " warning(s)";
}

}  // namespace

int run_validate(const ValidateOptions& o) {
  // Every problem is reported, so nothing is refused at load time here.
  auto r = policy::load_paths(o.input.paths);
  const policy::Evaluator ev(r.cluster);
  auto warnings = r.warnings;
  for (auto& w : policy::lint(ev)) warnings.push_back(std::move(w));
  const bool failed = !r.errors.empty() || (o.warnings_as_errors && !warnings.empty());
  if (o.format == Format::kJson) {
    nlohmann::json errs = nlohmann::json::array(), warns = nlohmann::json::array();
    for (const auto& e : r.errors) errs.push_back(diag_json(e));
    for (const auto& w : warnings) warns.push_back(diag_json(w));
    std::cout << nlohmann::json{{"valid", r.errors.empty()},
                                {"errors", errs},
                                {"warnings", warns},
                                {"skipped_kinds", r.skipped_kinds},
                                {"summary", summary(r, warnings.size())}}
                     .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    for (const auto& e : r.errors) std::cout << "error: " << e.str() << "\n";
    for (const auto& w : warnings) std::cout << "warning: " << w.str() << "\n";
    std::cout << summary(r, warnings.size()) << "\n";
  }
  return failed ? kNegative : kOk;
}

}  // namespace dry_run
