// Errors are values at the nft module boundary: a category the caller can branch on
// (modelled on the errno codes the kernel answers nf_tables messages with), a human
// message, and — for transactions — the index of the operation that failed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace nft {

enum class Errc : unsigned char {
  exists,       // EEXIST: object or element already present
  not_found,    // ENOENT: table, set, chain, element or jump target missing
  busy,         // EBUSY: object still referenced by a rule, a jump or a map element
  invalid,      // EINVAL: malformed object (bad name, wrong key size, bad rule)
  overlap,      // ENOTEMPTY: interval element overlaps an existing one
  loop,         // ELOOP: jumps would form a cycle
  unsupported,  // EOPNOTSUPP: e.g. jump to a base chain
  io,           // anything a real netlink socket can report beyond the above
  conflict,     // ERESTART: the ruleset changed behind our back (generation id moved, or the
                // table holds content we did not write): re-read the table and re-plan
};

// The errno value the kernel would report for this category.
int to_errno(Errc code);
std::string_view to_string(Errc code);

struct Error {
  Errc code = Errc::invalid;
  std::string message;
  // Index into Transaction::ops of the operation that failed, when applying a transaction.
  std::optional<std::size_t> op_index;

  bool operator==(const Error&) const = default;
  std::string to_string() const;
};

[[noreturn]] void die_on_unchecked(const Error& error);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design
  static Status ok() { return {}; }

  bool is_ok() const { return !error_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  // Precondition: !is_ok().
  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

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

  // value() on an error is a programming error: it prints the error and aborts.
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T& value() & {
    check();
    return std::get<0>(v_);
  }
  // By value: `for (auto& x : f().value())` must not iterate a destroyed temporary.
  T value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  const Error& error() const& { return std::get<1>(v_); }
  Status status() const { return is_ok() ? Status{} : Status{error()}; }

 private:
  void check() const {
    if (!is_ok()) {
      die_on_unchecked(std::get<1>(v_));
    }
  }
  std::variant<T, Error> v_;
};

inline Error make_error(Errc code, std::string message) {
  return Error{.code = code, .message = std::move(message), .op_index = std::nullopt};
}

}  // namespace nft
