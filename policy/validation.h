// Syntax checks the Kubernetes API server applies (apimachinery validation), returning the
// API server's message on failure and an empty string when the value is valid.
#pragma once

#include <string>
#include <string_view>

namespace policy::validation {

// RFC 1123 label: namespace names ("must consist of lower case alphanumeric characters or '-'").
std::string dns1123_label(std::string_view s);
// RFC 1123 subdomain: object names (pods, network policies).
std::string dns1123_subdomain(std::string_view s);
// Label (and matchLabels/matchExpressions) key: optional DNS-subdomain prefix + '/' + name.
std::string qualified_name(std::string_view s);
// Label value: empty, or up to 63 of [A-Za-z0-9_.-] starting and ending alphanumeric.
std::string label_value(std::string_view s);
// IANA_SVC_NAME: container and policy port names.
std::string port_name(std::string_view s);

}  // namespace policy::validation
