// libnftnl and libmnl handles owned by std::unique_ptr, so that every early return frees
// what was allocated. Internal to nft/ (and its tests): the public headers never expose
// libnftnl types.
#pragma once

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include <memory>

namespace nft::nl {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};

// libnftnl's free functions take `const T*` for some types; adapt them to one shape.
inline void free_table(nftnl_table* p) {
  nftnl_table_free(p);
}
inline void free_chain(nftnl_chain* p) {
  nftnl_chain_free(p);
}
inline void free_set(nftnl_set* p) {
  nftnl_set_free(p);
}
inline void free_set_elem(nftnl_set_elem* p) {
  nftnl_set_elem_free(p);
}
inline void free_rule(nftnl_rule* p) {
  nftnl_rule_free(p);
}
inline void free_expr(nftnl_expr* p) {
  nftnl_expr_free(p);
}
inline void free_gen(nftnl_gen* p) {
  nftnl_gen_free(p);
}
inline void free_udata(nftnl_udata_buf* p) {
  nftnl_udata_buf_free(p);
}
inline void free_expr_iter(nftnl_expr_iter* p) {
  nftnl_expr_iter_destroy(p);
}
inline void close_socket(mnl_socket* p) {
  mnl_socket_close(p);
}

using TablePtr = std::unique_ptr<nftnl_table, Deleter<nftnl_table, free_table>>;
using ChainPtr = std::unique_ptr<nftnl_chain, Deleter<nftnl_chain, free_chain>>;
using SetPtr = std::unique_ptr<nftnl_set, Deleter<nftnl_set, free_set>>;
using SetElemPtr = std::unique_ptr<nftnl_set_elem, Deleter<nftnl_set_elem, free_set_elem>>;
using RulePtr = std::unique_ptr<nftnl_rule, Deleter<nftnl_rule, free_rule>>;
using ExprPtr = std::unique_ptr<nftnl_expr, Deleter<nftnl_expr, free_expr>>;
using GenPtr = std::unique_ptr<nftnl_gen, Deleter<nftnl_gen, free_gen>>;
using UdataPtr = std::unique_ptr<nftnl_udata_buf, Deleter<nftnl_udata_buf, free_udata>>;
using ExprIterPtr = std::unique_ptr<nftnl_expr_iter, Deleter<nftnl_expr_iter, free_expr_iter>>;
using SocketPtr = std::unique_ptr<mnl_socket, Deleter<mnl_socket, close_socket>>;

}  // namespace nft::nl
