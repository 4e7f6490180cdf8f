#include "test_programs.h"

namespace nft::testing {

Element v4(std::string_view address) {
  return Element::ipv4(address).value();
}
Element v6(std::string_view address) {
  return Element::ipv6(address).value();
}
Element cidr(std::string_view prefix) {
  return Element::prefix(prefix).value();
}
Element range(std::string_view first, std::string_view last) {
  return Element::range(first, last).value();
}

SetType addr_type(KeyType type, bool interval) {
  return SetType{.key = {type}, .interval = interval};
}
SetType map_type(KeyType type) {
  return SetType{.key = {type}, .verdict_map = true};
}
SetType proto_port_type(bool interval) {
  return SetType{.key = {KeyType::inet_proto, KeyType::inet_service}, .interval = interval};
}

Rule rule(std::vector<Match> matches, Statement statement) {
  return Rule{.matches = std::move(matches), .statement = std::move(statement)};
}

namespace {

void add_sets(Program& p) {
  p.put(Set{
      .name = "peers-v4",
      .type = addr_type(KeyType::ipv4_addr, true),
      .elements = {cidr("10.0.0.0/8"), range("192.168.1.10", "192.168.1.20"), v4("172.16.0.5")}});
  p.put(Set{.name = "peers-v6",
            .type = addr_type(KeyType::ipv6_addr, true),
            .elements = {cidr("fd00::/64"), range("2001:db8::1", "2001:db8::5")}});
  p.put(Set{.name = "ports-web",
            .type = proto_port_type(true),
            .elements = {Element::proto_port(kProtoTcp, 80),
                         Element::proto_port_range(kProtoTcp, 8000, 8080),
                         Element::proto_port(kProtoUdp, 53)}});
  p.put(Set{
      .name = "ports-misc",
      .type = proto_port_type(false),
      .elements = {Element::proto_port(kProtoTcp, 443), Element::proto_port(kProtoSctp, 9000)}});
  p.put(Set{.name = "pods-v4",
            .type = addr_type(KeyType::ipv4_addr),
            .elements = {v4("10.244.1.5"), v4("10.244.1.6")}});
}

void add_maps(Program& p) {
  p.put(Set{.name = "ingress-v4",
            .type = map_type(KeyType::ipv4_addr),
            .elements = {v4("10.244.1.5").with(Verdict::jump("pod-a")),
                         v4("10.244.1.6").with(Verdict::jump("pod-b"))}});
  p.put(Set{.name = "ingress-v6",
            .type = map_type(KeyType::ipv6_addr),
            .elements = {v6("fd00::5").with(Verdict::goto_("pod-a"))}});
}

void add_base_chains(Program& p) {
  Rule established = rule({CtStateMatch{.states = kCtEstablished | kCtRelated}}, Verdict::accept());
  p.put(Chain{.name = "forward",
              .base = BaseChain{.hook = Hook::forward},
              .rules = {established, rule({CtStateMatch{.states = kCtInvalid}}, Verdict::drop()),
                        rule({}, VmapDispatch{.family = Family::ipv4, .map = "ingress-v4"}),
                        rule({}, VmapDispatch{.family = Family::ipv6, .map = "ingress-v6"})}});
  Rule quarantine = rule({CtMarkMatch{.mask = 0x00800000, .value = 0x00800000}}, Verdict::drop());
  quarantine.counter = true;
  quarantine.comment = "revoked connection";
  p.put(Chain{.name = "input",
              .base = BaseChain{.hook = Hook::input, .priority = -5},
              .rules = {quarantine,
                        rule({CtMarkMatch{.mask = 0xff, .value = 0x12, .negate = true},
                              FibLocalMatch{.field = Addr::saddr}},
                             Verdict::accept()),
                        rule({IfnameMatch{.name = "lo"}}, Verdict::accept())}});
  p.put(Chain{.name = "output",
              .base = BaseChain{.hook = Hook::output, .priority = 10, .policy = ChainPolicy::drop},
              .rules = {established, rule({FibLocalMatch{.field = Addr::daddr, .negate = true}},
                                          Verdict::jump("pod-b"))}});
}

void add_pod_chains(Program& p) {
  Rule allow_web =
      rule({AddrSetMatch{.set = "peers-v4"}, PortSetMatch{.set = "ports-web"}}, Verdict::return_());
  allow_web.counter = true;
  allow_web.comment = "default/allow-web";
  p.put(Chain{.name = "pod-a",
              .rules = {rule({TcpFlagsMatch{.mask = kTcpFin | kTcpSyn | kTcpRst | kTcpAck,
                                            .value = kTcpSyn,
                                            .negate = true}},
                             Verdict::drop()),
                        allow_web,
                        rule({AddrSetMatch{.family = Family::ipv6, .set = "peers-v6"},
                              PortSetMatch{.set = "ports-web"}},
                             Verdict::return_()),
                        rule({}, Verdict::drop())}});
  p.put(Chain{.name = "pod-b",
              .rules = {rule({AddrSetMatch{.set = "pods-v4", .negate = true},
                              L4protoMatch{.protocols = {kProtoTcp, kProtoUdp}}},
                             Verdict::drop()),
                        rule({PortSetMatch{.set = "ports-misc"}, CtStateMatch{.states = kCtNew}},
                             Verdict::return_()),
                        rule({NfprotoMatch{.family = Family::ipv6},
                              IfnameMatch{.iface = Iface::oifname, .name = "eth0", .negate = true}},
                             Verdict::drop()),
                        rule({}, Verdict::drop())}});
}

}  // namespace

Program small_program() {
  Program p;
  add_sets(p);
  add_maps(p);
  add_base_chains(p);
  add_pod_chains(p);
  return p;
}

}  // namespace nft::testing
