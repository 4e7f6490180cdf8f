// libmnl and libnetfilter_conntrack handles owned by std::unique_ptr. Internal to conntrack/.
#pragma once

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include <memory>

namespace conntrack::nl {

struct CloseSocket {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};
struct DestroyConntrack {
  void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};

using SocketPtr = std::unique_ptr<mnl_socket, CloseSocket>;
using ConntrackPtr = std::unique_ptr<nf_conntrack, DestroyConntrack>;

}  // namespace conntrack::nl
