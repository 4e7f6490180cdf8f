#include "conntrack/table.h"

namespace conntrack {

const common::IpAddr& field_of(const Entry& entry, Field field) {
  switch (field) {
    case Field::orig_src:
      return entry.orig.src;
    case Field::orig_dst:
      return entry.orig.dst;
    case Field::reply_src:
      return entry.reply.src;
    case Field::reply_dst:
      return entry.reply.dst;
  }
  return entry.orig.src;
}

bool DumpFilter::matches(const Entry& entry) const {
  if (family && entry.family != *family) {
    return false;
  }
  if (address && field_of(entry, address->field) != address->addr) {
    return false;
  }
  return (entry.mark & mark_mask) == mark;
}

Result<std::vector<Entry>> Table::entries(const DumpFilter& filter) {
  std::vector<Entry> out;
  Status s = dump(filter, [&](const Entry& e) { out.push_back(e); });
  if (!s) {
    return s.error();
  }
  return out;
}

}  // namespace conntrack
