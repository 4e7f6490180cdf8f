// KernelNetlink's read-back: only our table, object type by object type.
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <cstring>

#include "nft/kernel_netlink.h"
#include "nft/netlink_socket.h"

namespace nft {
namespace {

std::string str(const char* s) {
  return s != nullptr ? s : "";
}

// One dump (or get) conversation: builds the request with `fill`, collects replies.
struct Requester {
  nl::Socket& socket;
  KernelDumpStats& stats;
  bool& interrupted;
  const std::function<void(std::uint16_t)>& on_dump_message;

  template <class Fill>
  Status run(std::uint16_t type, std::uint16_t flags, Fill fill,
             const std::function<Status(const nlmsghdr*)>& on_message) {
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(socket.request_buffer(), type, NFPROTO_INET, flags,
                                          socket.next_seq());
    fill(nlh);
    ++stats.requests;
    bool intr = false;
    Status s = !on_dump_message ? socket.request(nlh, on_message, &intr, &stats.messages)
                                : socket.request(
                                      nlh,
                                      [&](const nlmsghdr* reply) {
                                        Status handled = on_message(reply);
                                        on_dump_message(NFNL_MSG_TYPE(reply->nlmsg_type));
                                        return handled;
                                      },
                                      &intr, &stats.messages);
    interrupted = interrupted || intr;
    return s;
  }
};

Status parse_error(const char* what) {
  return make_error(Errc::io, std::string("cannot parse a ") + what + " message");
}

Result<bool> table_exists(Requester& r, const std::string& table) {
  nl::TablePtr request(nftnl_table_alloc());
  nftnl_table_set_str(request.get(), NFTNL_TABLE_NAME, table.c_str());
  Status s = r.run(
      NFT_MSG_GETTABLE, NLM_F_ACK,
      [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, request.get()); },
      [](const nlmsghdr*) { return Status::ok(); });
  if (!s && s.error().code == Errc::not_found) {
    return false;
  }
  if (!s) {
    return s.error();
  }
  return true;
}

Result<std::vector<nl::SetPtr>> dump_sets(Requester& r, const std::string& table) {
  std::vector<nl::SetPtr> sets;
  nl::SetPtr request(nftnl_set_alloc());
  nftnl_set_set_str(request.get(), NFTNL_SET_TABLE, table.c_str());
  Status s = r.run(
      NFT_MSG_GETSET, NLM_F_DUMP,
      [&](nlmsghdr* nlh) { nftnl_set_nlmsg_build_payload(nlh, request.get()); },
      [&](const nlmsghdr* nlh) -> Status {
        nl::SetPtr set(nftnl_set_alloc());
        if (nftnl_set_nlmsg_parse(nlh, set.get()) < 0) {
          return parse_error("set");
        }
        if (str(nftnl_set_get_str(set.get(), NFTNL_SET_TABLE)) == table) {
          sets.push_back(std::move(set));
        }
        return Status::ok();
      });
  if (!s) {
    return s.error();
  }
  return sets;
}

Status dump_elements(Requester& r, const std::string& table, nftnl_set* set) {
  nl::SetPtr request(nftnl_set_alloc());
  nftnl_set_set_str(request.get(), NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(request.get(), NFTNL_SET_NAME, nftnl_set_get_str(set, NFTNL_SET_NAME));
  return r.run(
      NFT_MSG_GETSETELEM, NLM_F_DUMP,
      [&](nlmsghdr* nlh) { nftnl_set_elems_nlmsg_build_payload(nlh, request.get()); },
      [&](const nlmsghdr* nlh) -> Status {
        return nftnl_set_elems_nlmsg_parse(nlh, set) < 0 ? parse_error("set element")
                                                         : Status::ok();
      });
}

Result<std::vector<nl::ChainPtr>> dump_chains(Requester& r, const std::string& table) {
  std::vector<nl::ChainPtr> chains;
  nl::ChainPtr request(nftnl_chain_alloc());
  nftnl_chain_set_str(request.get(), NFTNL_CHAIN_TABLE, table.c_str());
  Status s = r.run(
      NFT_MSG_GETCHAIN, NLM_F_DUMP,
      [&](nlmsghdr* nlh) { nftnl_chain_nlmsg_build_payload(nlh, request.get()); },
      [&](const nlmsghdr* nlh) -> Status {
        nl::ChainPtr chain(nftnl_chain_alloc());
        if (nftnl_chain_nlmsg_parse(nlh, chain.get()) < 0) {
          return parse_error("chain");
        }
        if (str(nftnl_chain_get_str(chain.get(), NFTNL_CHAIN_TABLE)) == table) {
          chains.push_back(std::move(chain));
        }
        return Status::ok();
      });
  if (!s) {
    return s.error();
  }
  return chains;
}

Result<std::vector<nl::RulePtr>> dump_rules(Requester& r, const std::string& table) {
  std::vector<nl::RulePtr> rules;
  nl::RulePtr request(nftnl_rule_alloc());
  nftnl_rule_set_str(request.get(), NFTNL_RULE_TABLE, table.c_str());
  Status s = r.run(
      NFT_MSG_GETRULE, NLM_F_DUMP,
      [&](nlmsghdr* nlh) { nftnl_rule_nlmsg_build_payload(nlh, request.get()); },
      [&](const nlmsghdr* nlh) -> Status {
        nl::RulePtr rule(nftnl_rule_alloc());
        if (nftnl_rule_nlmsg_parse(nlh, rule.get()) < 0) {
          return parse_error("rule");
        }
        if (str(nftnl_rule_get_str(rule.get(), NFTNL_RULE_TABLE)) == table) {
          rules.push_back(std::move(rule));
        }
        return Status::ok();
      });
  if (!s) {
    return s.error();
  }
  return rules;
}

}  // namespace

Result<ReadBack> KernelNetlink::read_once(std::string_view table_name, bool& interrupted) {
  const std::string table(table_name);
  Requester r{*socket_, dump_stats_, interrupted, options_.on_dump_message};
  TableReader reader(table);
  auto exists = table_exists(r, table);
  if (!exists || !exists.value()) {
    return !exists ? Result<ReadBack>(exists.error()) : std::move(reader).finish();
  }
  auto sets = dump_sets(r, table);
  if (!sets) {
    return sets.error();
  }
  for (nl::SetPtr& set : sets.value()) {
    if (Status s = dump_elements(r, table, set.get()); !s) {
      return s.error();
    }
    reader.add_set(set.get());
  }
  auto chains = dump_chains(r, table);
  if (!chains) {
    return chains.error();
  }
  for (const nl::ChainPtr& chain : chains.value()) {
    reader.add_chain(chain.get());
  }
  auto rules = dump_rules(r, table);
  if (!rules) {
    return rules.error();
  }
  for (const nl::RulePtr& rule : rules.value()) {
    reader.add_rule(rule.get());
  }
  if (reader.repeated() > 0) {
    // A set was reordered while it was being dumped: elements may be missing.
    dump_stats_.repeated_elements += reader.repeated();
    interrupted = true;
  }
  return std::move(reader).finish();
}

}  // namespace nft
