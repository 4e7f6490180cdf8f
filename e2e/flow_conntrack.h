// Conntrack as the flow scenarios see it inside a node namespace: the table (`conntrack -L`)
// and its event log (`conntrack -E`, running through a whole scenario), reduced to entries
// that can be matched against a flow's addresses in either direction.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "flows.h"
#include "sys.h"

namespace e2e {

// The agents' default --conntrack-quarantine-mark (compiler::kDefaultQuarantineMark): the
// ct mark bit of revoked connections of protocols other than TCP, whose entries are kept and
// their packets dropped rather than deleted.
inline constexpr std::uint32_t kQuarantineMark = 0x00800000;

struct CtEntry {
  std::string proto;     // tcp, udp, ...
  std::string state;     // TCP state; empty for other protocols
  std::string src, dst;  // original direction, "ip:port"
  std::string reply_src, reply_dst;
  std::uint32_t mark = 0;
  std::string line;  // as conntrack printed it

  bool quarantined() const { return (mark & kQuarantineMark) != 0; }
};

struct CtEvent {
  TimePoint t{};
  std::string type;  // NEW, UPDATE, DESTROY
  CtEntry entry;
};

// The entry belongs to the flow between the two "ip:port" ends, whichever end opened it
// (a mid-stream pickup by the server's packets runs server -> client).
bool same_flow(const CtEntry& e, const std::string& proto, const std::string& a,
               const std::string& b);
// Parses one line of `conntrack -L` or `conntrack -E` (without the event type and timestamp).
CtEntry parse_ct_entry(const std::string& line);

// `conntrack -L` in a node namespace.
std::vector<CtEntry> conntrack_list(const std::string& netns);

// `conntrack -E -o timestamp` in a node namespace, to a log file, from start() to stop().
class ConntrackEvents {
 public:
  ConntrackEvents(Janitor& janitor, std::string netns, std::string log)
      : janitor_(janitor), netns_(std::move(netns)), log_(std::move(log)) {}
  ~ConntrackEvents() { stop(); }
  ConntrackEvents(const ConntrackEvents&) = delete;
  ConntrackEvents& operator=(const ConntrackEvents&) = delete;

  void start();  // from the main thread (the child dies with the thread that forked it)
  void stop();
  // The events logged, with their times on FlowClock; complete after stop() (conntrack
  // buffers its output and writes it out when it exits).
  std::vector<CtEvent> events() const;

 private:
  Janitor& janitor_;
  std::string netns_;
  std::string log_;
  pid_t pid_ = -1;
};

}  // namespace e2e
