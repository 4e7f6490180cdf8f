#include "nft/render.h"

#include <arpa/inet.h>

#include <algorithm>

namespace nft {
namespace {

using ByteSpan = std::span<const std::uint8_t>;

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      out += separator;
    }
    out += parts[i];
  }
  return out;
}

std::string hex(ByteSpan bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  for (std::uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

// 0x00800000: nft lists a mark as 8 hex digits.
std::string hex32(std::uint32_t value) {
  const std::uint8_t be[4] = {
      static_cast<std::uint8_t>(value >> 24), static_cast<std::uint8_t>(value >> 16),
      static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)};
  return hex(be);
}

std::string render_proto(std::uint8_t proto) {
  switch (proto) {
    case kProtoTcp:
      return "tcp";
    case kProtoUdp:
      return "udp";
    case kProtoSctp:
      return "sctp";
    default:
      return std::to_string(proto);
  }
}

std::string render_address(ByteSpan bytes) {
  char buffer[INET6_ADDRSTRLEN] = {};
  int family = bytes.size() == 4 ? AF_INET : AF_INET6;
  if (inet_ntop(family, bytes.data(), buffer, sizeof(buffer)) == nullptr) {
    return hex(bytes);
  }
  return buffer;
}

std::string render_field(KeyType type, ByteSpan bytes) {
  switch (type) {
    case KeyType::ipv4_addr:
    case KeyType::ipv6_addr:
      return render_address(bytes);
    case KeyType::inet_proto:
      return render_proto(bytes[0]);
    case KeyType::inet_service:
      return std::to_string((bytes[0] << 8) | bytes[1]);
  }
  return hex(bytes);
}

// The prefix length if lo..hi is exactly one CIDR block, else -1.
int prefix_length(ByteSpan lo, ByteSpan hi) {
  std::size_t bits = lo.size() * 8;
  std::size_t len = 0;
  while (len < bits) {
    auto mask = static_cast<std::uint8_t>(0x80u >> (len % 8));
    if ((lo[len / 8] & mask) != (hi[len / 8] & mask)) {
      break;
    }
    ++len;
  }
  for (std::size_t bit = len; bit < bits; ++bit) {
    auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
    if ((lo[bit / 8] & mask) != 0 || (hi[bit / 8] & mask) == 0) {
      return -1;
    }
  }
  return static_cast<int>(len);
}

std::string render_field_range(KeyType type, ByteSpan lo, ByteSpan hi) {
  if (std::equal(lo.begin(), lo.end(), hi.begin(), hi.end())) {
    return render_field(type, lo);
  }
  bool address = type == KeyType::ipv4_addr || type == KeyType::ipv6_addr;
  if (int len = address ? prefix_length(lo, hi) : -1; len >= 0) {
    return render_address(lo) + "/" + std::to_string(len);
  }
  return render_field(type, lo) + "-" + render_field(type, hi);
}

std::string render_flags(std::uint8_t flags, bool parenthesize) {
  static constexpr std::pair<std::uint8_t, std::string_view> kNames[] = {
      {kTcpFin, "fin"}, {kTcpSyn, "syn"}, {kTcpRst, "rst"}, {kTcpPsh, "psh"},
      {kTcpAck, "ack"}, {kTcpUrg, "urg"}, {kTcpEcn, "ecn"}, {kTcpCwr, "cwr"}};
  std::vector<std::string> names;
  for (const auto& [bit, name] : kNames) {
    if ((flags & bit) != 0) {
      names.emplace_back(name);
    }
  }
  if (names.empty()) {
    return "0";
  }
  if (names.size() == 1 || !parenthesize) {
    return join(names, " | ");
  }
  return "(" + join(names, " | ") + ")";
}

std::string_view family_keyword(Family family) {
  return family == Family::ipv4 ? "ip" : "ip6";
}
std::string_view addr_keyword(Addr field) {
  return field == Addr::saddr ? "saddr" : "daddr";
}
std::string_view neq(bool negate) {
  return negate ? "!= " : "";
}

struct MatchRenderer {
  std::string operator()(const CtStateMatch& m) const {
    static constexpr std::pair<std::uint32_t, std::string_view> kNames[] = {
        {kCtInvalid, "invalid"},
        {kCtEstablished, "established"},
        {kCtRelated, "related"},
        {kCtNew, "new"},
        {kCtUntracked, "untracked"}};
    std::vector<std::string> names;
    for (const auto& [bit, name] : kNames) {
      if ((m.states & bit) != 0) {
        names.emplace_back(name);
      }
    }
    return "ct state " + std::string(neq(m.negate)) + join(names, ",");
  }
  std::string operator()(const NfprotoMatch& m) const {
    return m.family == Family::ipv4 ? "meta nfproto ipv4" : "meta nfproto ipv6";
  }
  std::string operator()(const L4protoMatch& m) const {
    std::vector<std::string> names;
    for (std::uint8_t p : m.protocols) {
      names.push_back(render_proto(p));
    }
    std::string list = names.size() == 1 ? names[0] : "{ " + join(names, ", ") + " }";
    return "meta l4proto " + std::string(neq(m.negate)) + list;
  }
  std::string operator()(const AddrSetMatch& m) const {
    return std::string(family_keyword(m.family)) + " " + std::string(addr_keyword(m.field)) + " " +
           std::string(neq(m.negate)) + "@" + m.set;
  }
  std::string operator()(const PortSetMatch& m) const {
    return "meta l4proto . th dport " + std::string(neq(m.negate)) + "@" + m.set;
  }
  std::string operator()(const FibLocalMatch& m) const {
    return "fib " + std::string(addr_keyword(m.field)) + " type " + std::string(neq(m.negate)) +
           "local";
  }
  std::string operator()(const TcpFlagsMatch& m) const {
    return "tcp flags & " + render_flags(m.mask, true) + (m.negate ? " != " : " == ") +
           render_flags(m.value, true);
  }
  std::string operator()(const CtMarkMatch& m) const {
    return "ct mark & " + hex32(m.mask) + (m.negate ? " != " : " == ") + hex32(m.value);
  }
  std::string operator()(const IfnameMatch& m) const {
    std::string keyword = m.iface == Iface::iifname ? "iifname " : "oifname ";
    return keyword + std::string(neq(m.negate)) + "\"" + m.name + "\"";
  }
};

struct StatementRenderer {
  std::string operator()(const Verdict& v) const { return render_verdict(v); }
  std::string operator()(const VmapDispatch& v) const {
    return std::string(family_keyword(v.family)) + " " + std::string(addr_keyword(v.field)) +
           " vmap @" + v.map;
  }
};

std::string render_priority(int priority) {
  if (priority == 0) {
    return "filter";
  }
  if (priority > 0) {
    return "filter + " + std::to_string(priority);
  }
  return "filter - " + std::to_string(-static_cast<long long>(priority));
}

std::string element_list(const SetType& type, const std::vector<Element>& elements, bool keys) {
  std::vector<std::string> parts;
  parts.reserve(elements.size());
  for (const Element& e : elements) {
    parts.push_back(keys ? render_element_key(type, e) : render_element(type, e));
  }
  return "{ " + join(parts, ", ") + " }";
}

void render_set(std::string& out, const Set& set) {
  out += std::string("\t") + (set.type.verdict_map ? "map " : "set ") + set.name + " {\n";
  out += "\t\t" + render_set_type(set.type) + "\n";
  if (set.type.interval) {
    out += "\t\tflags interval\n";
  }
  if (!set.elements.empty()) {
    out += "\t\telements = {\n";
    std::size_t i = 0;
    for (const Element& e : set.elements) {
      out += "\t\t\t" + render_element(set.type, e);
      out += ++i < set.elements.size() ? ",\n" : "\n";
    }
    out += "\t\t}\n";
  }
  out += "\t}\n";
}

void render_chain(std::string& out, const Chain& chain) {
  out += "\tchain " + chain.name + " {\n";
  if (chain.base) {
    out += "\t\t" + render_base_chain(*chain.base) + "\n";
  }
  for (const Rule& rule : chain.rules) {
    out += "\t\t" + render_rule(rule) + "\n";
  }
  out += "\t}\n";
}

std::string object(std::string_view table, std::string_view what, const std::string& name) {
  return std::string(what) + " " + std::string(kTableFamily) + " " + std::string(table) + " " +
         name;
}

struct OpRenderer {
  std::string_view table;

  std::string operator()(const op::AddTable&) const {
    return "add table " + std::string(kTableFamily) + " " + std::string(table);
  }
  std::string operator()(const op::DeleteTable&) const {
    return "delete table " + std::string(kTableFamily) + " " + std::string(table);
  }
  std::string operator()(const op::AddSet& o) const {
    std::string flags = o.type.interval ? " flags interval;" : "";
    return object(table, o.type.verdict_map ? "create map" : "create set", o.name) + " { " +
           render_set_type(o.type) + ";" + flags + " }";
  }
  std::string operator()(const op::DeleteSet& o) const {
    return object(table, o.type.verdict_map ? "delete map" : "delete set", o.name);
  }
  std::string operator()(const op::AddElements& o) const {
    std::string line = object(table, "create element", o.set) + " ";
    if (o.elements.empty()) {
      return "# " + line + "{ }";
    }
    return line + element_list(o.type, o.elements, false);
  }
  std::string operator()(const op::DeleteElements& o) const {
    std::string line = object(table, "delete element", o.set) + " ";
    if (o.elements.empty()) {
      return "# " + line + "{ }";
    }
    return line + element_list(o.type, o.elements, true);
  }
  std::string operator()(const op::AddChain& o) const {
    std::string line = object(table, "create chain", o.name);
    if (o.base) {
      line += " { " + render_base_chain(*o.base) + " }";
    }
    return line;
  }
  std::string operator()(const op::DeleteChain& o) const {
    return object(table, "delete chain", o.name);
  }
  std::string operator()(const op::FlushChain& o) const {
    return object(table, "flush chain", o.name);
  }
  std::string operator()(const op::AddRule& o) const {
    return object(table, "add rule", o.chain) + " " + render_rule(o.rule);
  }
};

}  // namespace

std::string_view to_string(Hook hook) {
  switch (hook) {
    case Hook::input:
      return "input";
    case Hook::forward:
      return "forward";
    case Hook::output:
      return "output";
  }
  return "?";
}

std::string_view to_string(ChainPolicy policy) {
  return policy == ChainPolicy::accept ? "accept" : "drop";
}

std::string render_base_chain(const BaseChain& base) {
  return "type filter hook " + std::string(to_string(base.hook)) + " priority " +
         render_priority(base.priority) + "; policy " + std::string(to_string(base.policy)) + ";";
}

std::string render_verdict(const Verdict& verdict) {
  switch (verdict.kind) {
    case Verdict::Kind::accept:
      return "accept";
    case Verdict::Kind::drop:
      return "drop";
    case Verdict::Kind::return_:
      return "return";
    case Verdict::Kind::jump:
      return "jump " + verdict.chain;
    case Verdict::Kind::goto_:
      return "goto " + verdict.chain;
  }
  return "?";
}

std::string render_rule(const Rule& rule) {
  std::vector<std::string> parts;
  for (const Match& m : rule.matches) {
    parts.push_back(std::visit(MatchRenderer{}, m));
  }
  if (rule.counter) {
    parts.emplace_back("counter");
  }
  parts.push_back(std::visit(StatementRenderer{}, rule.statement));
  if (!rule.comment.empty()) {
    parts.push_back("comment \"" + rule.comment + "\"");
  }
  return join(parts, " ");
}

std::string render_set_type(const SetType& type) {
  std::vector<std::string> fields;
  for (KeyType t : type.key) {
    fields.emplace_back(to_string(t));
  }
  return "type " + join(fields, " . ") + (type.verdict_map ? " : verdict" : "");
}

std::string render_element_key(const SetType& type, const Element& element) {
  const Bytes& end = element_end(element);
  std::size_t length = type.key_length();
  if (type.key.empty() || element.key.size() != length || end.size() != length) {
    return hex(element.key) + (element.key_end ? "-" + hex(*element.key_end) : "");
  }
  std::vector<std::string> fields;
  for (std::size_t i = 0; i < type.key.size(); ++i) {
    fields.push_back(render_field_range(type.key[i], field_bytes(type.key, element.key, i),
                                        field_bytes(type.key, end, i)));
  }
  return join(fields, " . ");
}

std::string render_element(const SetType& type, const Element& element) {
  std::string out = render_element_key(type, element);
  if (element.verdict) {
    out += " : " + render_verdict(*element.verdict);
  }
  return out;
}

std::string render(const Program& program) {
  std::string out = "table " + std::string(kTableFamily) + " " + program.table + " {\n";
  bool first = true;
  auto separate = [&] {
    if (!first) {
      out += "\n";
    }
    first = false;
  };
  for (const auto& [name, set] : program.sets) {
    separate();
    render_set(out, set);
  }
  for (const auto& [name, chain] : program.chains) {
    separate();
    render_chain(out, chain);
  }
  out += "}\n";
  return out;
}

std::string render_op(std::string_view table, const Op& op) {
  return std::visit(OpRenderer{table}, op);
}

std::string render(const Transaction& transaction) {
  std::string out;
  for (const Op& op : transaction.ops) {
    out += render_op(transaction.table, op) + "\n";
  }
  return out;
}

}  // namespace nft
