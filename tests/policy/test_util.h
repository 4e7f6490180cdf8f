// Helpers shared by the policy/ unit tests: loading manifests from strings and finding
// diagnostics by field path.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "policy/loader.h"

namespace policy::testing {

// Loads one in-memory file (YAML, or JSON when `name` ends in ".json").
inline LoadResult load(std::string_view text, const std::string& name = "test.yaml") {
  Loader loader;
  loader.add_text(text, name);
  return std::move(loader).finish();
}

// A NetworkPolicy document in YAML flow style: `spec` is the inside of the spec mapping,
// e.g. "podSelector: {}, ingress: [{}]".
inline std::string np_doc(const std::string& ns, const std::string& name, const std::string& spec) {
  return "---\n{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: " + name +
         ", namespace: " + ns + "}, spec: {" + spec + "}}\n";
}

// Every error of `r`, one per line, for failure messages.
inline std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.errors) out += "  " + d.str() + "\n";
  return out.empty() ? "  (no errors)\n" : out;
}

// The first error whose field path is exactly `field` and whose message contains `substr`.
inline const Diagnostic* find_error(const LoadResult& r, const std::string& field,
                                    const std::string& substr) {
  for (const auto& d : r.errors) {
    if (d.error.field == field && d.error.message.find(substr) != std::string::npos) return &d;
  }
  return nullptr;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace policy::testing
