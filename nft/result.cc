#include "nft/result.h"

#include <cerrno>

namespace nft {

int to_errno(Errc code) {
  switch (code) {
    case Errc::exists:
      return EEXIST;
    case Errc::not_found:
      return ENOENT;
    case Errc::busy:
      return EBUSY;
    case Errc::invalid:
      return EINVAL;
    case Errc::overlap:
      return ENOTEMPTY;
    case Errc::loop:
      return ELOOP;
    case Errc::unsupported:
      return EOPNOTSUPP;
    case Errc::io:
      return EIO;
    case Errc::conflict:
      return ERESTART;
  }
  return EINVAL;
}

std::string_view to_string(Errc code) {
  switch (code) {
    case Errc::exists:
      return "exists";
    case Errc::not_found:
      return "not_found";
    case Errc::busy:
      return "busy";
    case Errc::invalid:
      return "invalid";
    case Errc::overlap:
      return "overlap";
    case Errc::loop:
      return "loop";
    case Errc::unsupported:
      return "unsupported";
    case Errc::io:
      return "io";
    case Errc::conflict:
      return "conflict";
  }
  return "unknown";
}

std::string Error::to_string() const {
  std::string out(nft::to_string(code));
  if (op_index) {
    out += " at operation " + std::to_string(*op_index);
  }
  if (!message.empty()) {
    out += ": " + message;
  }
  return out;
}

void die_on_unchecked(const Error& error) {
  std::fprintf(stderr, "nft: value() of a failed Result: %s\n", error.to_string().c_str());
  std::abort();
}

}  // namespace nft
