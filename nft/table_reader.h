// Read-back, the pure half: the libnftnl objects a dump of our table returns (sets with
// their elements, chains, rules) become a Program again. Whatever nftpolicy does not
// write — a rule added by hand, a set with timeouts, a nat chain — is not guessed at: it
// is listed in `foreign`, and the caller treats it as drift.
//
// Internal to nft/; kernel_netlink.h does the I/O.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "nft/nftnl_handles.h"
#include "nft/program.h"

namespace nft {

struct ReadBack {
  Program program;                   // everything we could decode
  std::vector<std::string> foreign;  // what we could not, one description each
  // The chains holding a foreign rule, and sets/chains we could not decode: flushing or
  // deleting them (or the table) removes the drift.
  std::vector<ObjectRef> tainted;
};

class TableReader {
 public:
  explicit TableReader(std::string table) { out_.program.table = std::move(table); }

  // A set with its elements (nftnl_set_elems_nlmsg_parse'd into it).
  void add_set(nftnl_set* set);
  void add_chain(const nftnl_chain* chain);
  // Rules after all sets (a rule may use an anonymous set) and chains.
  void add_rule(const nftnl_rule* rule);

  // Set element pieces that arrived more than once. An element dump is resumed, message
  // after message, by skipping as many elements as were already sent; if the kernel
  // reorders the set in between (a hash set's table grows or shrinks in the background
  // for a while after a large change, without any new generation), elements are skipped
  // and others sent twice. The set's content being fixed, every lost element comes with
  // a repeated one, so repeated() > 0 means "this read may have lost elements: read
  // again". It is counted, never an error.
  std::size_t repeated() const { return repeated_; }

  ReadBack finish() &&;

 private:
  void taint(ObjectRef ref, std::string why);

  ReadBack out_;
  std::size_t repeated_ = 0;
  std::map<std::string, std::set<std::uint8_t>, std::less<>> anonymous_;
};

}  // namespace nft
