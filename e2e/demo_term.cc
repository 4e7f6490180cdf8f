#include "demo_term.h"

#include <sstream>

namespace demo {

std::string indent(const std::string& text, const std::string& prefix) {
  std::string out;
  bool at_start = true;
  for (char ch : text) {
    if (at_start && ch != '\n') out += prefix;
    out += ch;
    at_start = ch == '\n';
  }
  return out;
}

std::string wrap_text(const std::string& text, size_t width, const std::string& prefix) {
  std::istringstream words(text);
  std::string out, line;
  for (std::string w; words >> w;) {
    if (!line.empty() && prefix.size() + line.size() + 1 + w.size() > width) {
      out += prefix + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + w;
  }
  if (!line.empty()) out += prefix + line + "\n";
  return out;
}

void say(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace demo
