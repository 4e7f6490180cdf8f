// Errors are values at the watch module boundary: a category the caller can branch on (what
// went wrong talking to the API server), a human message, and the HTTP status when there was
// one.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace watch {

enum class Errc : unsigned char {
  config,        // the kubeconfig / in-cluster configuration is unusable (message has the field)
  connect,       // no connection, TLS failure, timeout, connection dropped
  http,          // an HTTP status the caller did not expect (http_status says which)
  expired,       // 410 Gone: the resourceVersion is too old, relist
  unauthorized,  // 401: no or bad credentials
  forbidden,     // 403: authenticated, but RBAC does not allow the request
  decode,        // the body is not what the API promises (bad JSON, missing fields)
  cancelled,     // stop() was called
};

const char* to_string(Errc code);

struct Error {
  Errc code = Errc::connect;
  std::string message;
  int http_status = 0;
  std::string to_string() const;
};

inline Error make_error(Errc code, std::string message, int http_status = 0) {
  return Error{code, std::move(message), http_status};
}

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design
  static Status ok() { return {}; }
  bool is_ok() const { return !error_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  // Precondition: is_ok().
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  // By value: `for (auto& x : f().value())` must not iterate a destroyed temporary.
  T value() && { return std::get<0>(std::move(v_)); }
  // Precondition: !is_ok().
  const Error& error() const { return std::get<1>(v_); }
  Status status() const { return is_ok() ? Status{} : Status{error()}; }

 private:
  std::variant<T, Error> v_;
};

}  // namespace watch
