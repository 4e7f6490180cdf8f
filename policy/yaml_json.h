// YAML text to JSON values, typed the way Kubernetes' YAML decoder types plain scalars.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace policy {

struct YamlDocuments {
  std::vector<nlohmann::json> docs;
  std::string error;  // parse error with line and column; docs holds those before it
};

// Splits a multi-document YAML stream. Quoted scalars stay strings; plain scalars become
// null (~, null, empty), booleans (true/false), integers, floats, or strings.
YamlDocuments yaml_to_json(std::string_view text);

}  // namespace policy
