// Output of the demo: optional ANSI styles, indentation and flushing prints (the demo's output
// is read as it comes, often through a pipe).
#pragma once

#include <cstdio>
#include <string>

namespace demo {

class Term {
 public:
  explicit Term(bool color) : color_(color) {}

  std::string bold(const std::string& s) const { return wrap("1", s); }
  std::string dim(const std::string& s) const { return wrap("2", s); }
  std::string red(const std::string& s) const { return wrap("1;31", s); }
  std::string green(const std::string& s) const { return wrap("1;32", s); }
  std::string cyan(const std::string& s) const { return wrap("36", s); }
  std::string yellow(const std::string& s) const { return wrap("33", s); }
  bool color() const { return color_; }

 private:
  std::string wrap(const char* code, const std::string& s) const {
    return color_ ? "\033[" + std::string(code) + "m" + s + "\033[0m" : s;
  }
  bool color_;
};

// Every line of `text` with `prefix` in front (a trailing newline is kept, none is added).
std::string indent(const std::string& text, const std::string& prefix);
// `text` re-flowed into lines of at most `width` characters, each starting with `prefix`.
std::string wrap_text(const std::string& text, size_t width, const std::string& prefix);
// Prints and flushes.
void say(const std::string& text);

}  // namespace demo
