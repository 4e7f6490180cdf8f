#include "policy/validation.h"

#include <cctype>

namespace policy::validation {
namespace {

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?
bool name_part_ok(std::string_view s) {
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s) {
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])? of any length; dns1123_label adds the 63 limit.
bool label_ok(std::string_view s) {
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) {
    return false;
  }
  for (char c : s) {
    if (!lower_alnum(c) && c != '-') return false;
  }
  return true;
}

}  // namespace

std::string dns1123_label(std::string_view s) {
  if (s.size() > 63) return "must be no more than 63 characters";
  if (!label_ok(s)) {
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
           "'-', and must start and end with an alphanumeric character";
  }
  return "";
}

std::string dns1123_subdomain(std::string_view s) {
  if (s.size() > 253) return "must be no more than 253 characters";
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const auto part = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (!label_ok(part)) {
      return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
             "characters, '-' or '.', and must start and end with an alphanumeric character";
    }
    if (dot == std::string_view::npos) return "";
    start = dot + 1;
  }
}

std::string qualified_name(std::string_view s) {
  std::string_view name = s;
  const size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    const auto prefix = s.substr(0, slash);
    name = s.substr(slash + 1);
    if (prefix.empty()) return "prefix part must be non-empty";
    if (auto e = dns1123_subdomain(prefix); !e.empty()) return "prefix part " + e;
  }
  if (name.empty()) return "name part must be non-empty";
  if (name.size() > 63) return "name part must be no more than 63 characters";
  if (!name_part_ok(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
           "and end with an alphanumeric character (e.g. 'MyName', 'my.name', or "
           "'123-abc')";
  }
  return "";
}

std::string label_value(std::string_view s) {
  if (s.empty()) return "";
  if (s.size() > 63) return "must be no more than 63 characters";
  if (!name_part_ok(s)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', "
           "'_' or '.', and must start and end with an alphanumeric character";
  }
  return "";
}

std::string port_name(std::string_view s) {
  if (s.size() > 15) return "must be no more than 15 characters";
  if (s.empty()) return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
  bool letter = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!lower_alnum(c) && c != '-') {
      return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
    }
    if (c >= 'a' && c <= 'z') letter = true;
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      return "must not contain consecutive hyphens";
    }
  }
  if (s.front() == '-' || s.back() == '-') return "must not begin or end with a hyphen";
  if (!letter) return "must contain at least one letter (a-z)";
  return "";
}

}  // namespace policy::validation
