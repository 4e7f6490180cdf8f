// Typed objects from decoded JSON (YAML is converted to JSON first, see loader.h), with the
// API server's validation and defaulting. Every problem is reported with its field path.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "policy/types.h"

namespace policy {

struct FieldError {
  std::string field;  // e.g. spec.ingress[0].from[1].ipBlock.cidr
  std::string message;
  std::string str() const { return field.empty() ? message : field + ": " + message; }
};
using FieldErrors = std::vector<FieldError>;

// Each returns the object only when it is valid; otherwise it appends to `errors`.
// NetworkPolicy fields are checked strictly (an unknown field is an error, as with
// `kubectl apply --validate=strict`), pods and namespaces leniently (snapshots carry many
// fields nftpolicy does not need).
std::optional<NetworkPolicy> parse_network_policy(const nlohmann::json& obj, FieldErrors& errors);
std::optional<Pod> parse_pod(const nlohmann::json& obj, FieldErrors& errors);
std::optional<Namespace> parse_namespace(const nlohmann::json& obj, FieldErrors& errors);

// metav1.Time ("2024-05-01T12:34:56Z") in seconds since the epoch.
std::optional<std::int64_t> parse_timestamp(std::string_view text);

// The label the API server sets on every namespace (Kubernetes >= 1.21).
inline constexpr const char* kNamespaceNameLabel = "kubernetes.io/metadata.name";
// Namespace of an object without metadata.namespace, as kubectl does with the default context.
inline constexpr const char* kDefaultNamespace = "default";

}  // namespace policy
