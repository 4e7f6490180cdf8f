#include "flow_conntrack.h"

#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <sstream>

namespace e2e {

namespace {

bool bracketed(const std::string& t) {
  return t.size() >= 2 && t.front() == '[' && t.back() == ']';
}

bool all_of(const std::string& s, int (*pred)(int), const char* extra) {
  for (unsigned char ch : s) {
    if (!pred(ch) && std::string(extra).find(static_cast<char>(ch)) == std::string::npos)
      return false;
  }
  return !s.empty();
}

// Realtime seconds (conntrack's timestamps) to FlowClock.
TimePoint from_realtime(double secs) {
  const auto real_now = std::chrono::system_clock::now();
  const TimePoint mono_now = FlowClock::now();
  const auto ago = std::chrono::duration<double>(
      std::chrono::duration<double>(real_now.time_since_epoch()).count() - secs);
  return mono_now - std::chrono::duration_cast<FlowClock::duration>(ago);
}

}  // namespace

CtEntry parse_ct_entry(const std::string& line) {
  CtEntry e{.line = line};
  std::istringstream in(line);
  std::string sip[2], dip[2], port[2][2];  // per direction: addresses; sport, dport
  int seen_src = 0, seen_dst = 0, seen_sport = 0, seen_dport = 0;
  for (std::string t; in >> t;) {
    if (bracketed(t)) continue;
    const auto eq = t.find('=');
    if (eq == std::string::npos) {
      if (e.proto.empty() && all_of(t, ::isalpha, ""))
        e.proto = t;
      else if (t.size() > 2 && all_of(t, ::isupper, "_"))
        e.state = t;
      continue;
    }
    const std::string k = t.substr(0, eq), v = t.substr(eq + 1);
    if (k == "src" && seen_src < 2) sip[seen_src++] = v;
    if (k == "dst" && seen_dst < 2) dip[seen_dst++] = v;
    if (k == "sport" && seen_sport < 2) port[seen_sport++][0] = v;
    if (k == "dport" && seen_dport < 2) port[seen_dport++][1] = v;
    if (k == "mark" && all_of(v, ::isdigit, "")) e.mark = static_cast<uint32_t>(std::stoul(v));
  }
  e.src = sip[0] + ":" + port[0][0];
  e.dst = dip[0] + ":" + port[0][1];
  e.reply_src = sip[1] + ":" + port[1][0];
  e.reply_dst = dip[1] + ":" + port[1][1];
  return e;
}

bool same_flow(const CtEntry& e, const std::string& proto, const std::string& a,
               const std::string& b) {
  if (e.proto != proto) return false;
  // The original direction, or the reply direction (after NAT the reply tuple holds the
  // addresses the pods see).
  return (e.src == a && e.dst == b) || (e.src == b && e.dst == a) ||
         (e.reply_src == a && e.reply_dst == b) || (e.reply_src == b && e.reply_dst == a);
}

std::vector<CtEntry> conntrack_list(const std::string& netns) {
  const RunResult r = run(in_netns(netns, {"conntrack", "-L"}));
  if (r.rc != 0) throw std::runtime_error("conntrack -L in " + netns + ": " + r.err);
  std::vector<CtEntry> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (line.find("src=") != std::string::npos) out.push_back(parse_ct_entry(line));
  }
  return out;
}

void ConntrackEvents::start() {
  if (pid_ > 0) return;
  const int fd = open_netns(netns_);
  try {
    pid_ = spawn({.argv = {"conntrack", "-E", "-o", "timestamp"}, .netns_fd = fd, .log = log_}).pid;
  } catch (...) {
    close(fd);
    throw;
  }
  close(fd);
  janitor_.add_child(pid_);
}

void ConntrackEvents::stop() {
  if (pid_ <= 0) return;
  stop_child(pid_, SIGTERM, std::chrono::seconds(2));
  janitor_.forget_child(pid_);
  pid_ = -1;
}

std::vector<CtEvent> ConntrackEvents::events() const {
  std::vector<CtEvent> out;
  std::ifstream in(log_);
  for (std::string line; std::getline(in, line);) {
    std::istringstream tok(line);
    CtEvent ev;
    for (std::string t; tok >> t && bracketed(t);) {
      const std::string inner = t.substr(1, t.size() - 2);
      if (all_of(inner, ::isdigit, ".")) ev.t = from_realtime(std::stod(inner));
      if (inner == "NEW" || inner == "UPDATE" || inner == "DESTROY") ev.type = inner;
    }
    if (ev.type.empty() || line.find("src=") == std::string::npos) continue;
    ev.entry = parse_ct_entry(line);
    out.push_back(std::move(ev));
  }
  return out;
}

}  // namespace e2e
