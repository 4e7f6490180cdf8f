// Errors as values at module boundaries (STYLE.md rule 6).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace common {

enum class ErrorKind {
  kInvalidArgument,  // the caller's input is wrong (bad flag, bad manifest)
  kNotFound,         // a named file, pod or object does not exist
  kIo,               // reading or writing failed
  kParse,            // a document could not be parsed
  kInternal,         // a bug: an invariant did not hold
};

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace common
