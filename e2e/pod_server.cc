// The server process of one e2e pod, started inside the pod's network namespace. It listens on
// the pod's declared TCP and UDP ports on every address of both families (one dual-stack socket
// per port), answers each TCP connection with the pod's name and echoes every UDP datagram.
// It prints "ready" once every socket is bound, so the harness never probes a half-started pod.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Listener {
  int fd;
  bool tcp;
};

// A v6 socket with IPV6_V6ONLY off takes v4 too; pods without IPv6 fall back to plain v4.
int bind_port(int port, bool tcp) {
  const int type = (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const int one = 1, zero = 0;
  int fd = socket(AF_INET6, type, 0);
  if (fd >= 0) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in6 a{.sin6_family = AF_INET6, .sin6_port = htons(static_cast<uint16_t>(port))};
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    close(fd);
  }
  fd = socket(AF_INET, type, 0);
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{.sin_family = AF_INET, .sin_port = htons(static_cast<uint16_t>(port))};
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void serve_tcp(int listen_fd, const std::string& reply) {
  for (;;) {
    const int c = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;  // EAGAIN: the backlog is drained
    // A blocking write of a few bytes into a fresh socket's empty buffer cannot stall.
    // MSG_NOSIGNAL: a client that gave up already must not kill the server with SIGPIPE.
    [[maybe_unused]] const ssize_t n = send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    close(c);
  }
}

void serve_udp(int fd) {
  char buf[2048];
  for (;;) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;
    sendto(fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"e2e pod server: answers TCP connects with the pod name and echoes UDP"};
  std::string name = "pod";
  std::vector<int> tcp, udp;
  app.add_option("--name", name, "Pod name sent as the TCP reply");
  app.add_option("--tcp", tcp, "TCP ports to serve")->delimiter(',');
  app.add_option("--udp", udp, "UDP ports to serve")->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  std::vector<Listener> ls;
  for (const auto& [ports, is_tcp] : {std::pair{&tcp, true}, std::pair{&udp, false}}) {
    for (int port : *ports) {
      const int fd = bind_port(port, is_tcp);
      if (fd < 0 || (is_tcp && listen(fd, 256) != 0)) {
        std::fprintf(stderr, "pod_server %s: %s port %d: %s\n", name.c_str(),
                     is_tcp ? "tcp" : "udp", port, std::strerror(errno));
        return 1;
      }
      ls.push_back({fd, is_tcp});
    }
  }
  std::printf("ready\n");
  std::fflush(stdout);

  const std::string reply = name + "\n";
  std::vector<pollfd> fds;
  for (const auto& l : ls) fds.push_back({l.fd, POLLIN, 0});
  for (;;) {
    if (poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return 1;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      if (ls[i].tcp) {
        serve_tcp(ls[i].fd, reply);
      } else {
        serve_udp(ls[i].fd);
      }
    }
  }
}
