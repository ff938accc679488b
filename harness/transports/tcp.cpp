// TCP over loopback with TCP_NODELAY: the cost of going through the network stack, for
// users weighing a socket-based design (multiprocessing.connection.Listener, RPC).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "harness/transports/fd_channel.h"
#include "harness/launch/peer.h"

namespace ipcm {
namespace {

// Any local process can connect to a loopback port, so the peer proves itself with a random
// token passed in its argv before the parent accepts the connection as its peer.
using Token = std::uint64_t;

bool set_nodelay(int fd) {
  const int one = 1;
  return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

bool read_exact(int fd, void* p, std::size_t n, const ChannelConfig& cfg) {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, b, n);
    if (r > 0) {
      b += r;
      n -= std::size_t(r);
    } else if (r < 0 && errno == EINTR && !cfg.cancelled()) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

class TcpLink final : public Link {
 public:
  int listener = -1;
  int conn = -1;
  int port = 0;
  Token token = 0;
  ChannelConfig cfg;

  ~TcpLink() override {
    close_fd(conn);
    close_fd(listener);
  }
  PeerSpec peer_spec() const override {
    char tok[32];
    std::snprintf(tok, sizeof tok, "%016" PRIx64, token);
    return {{"tcp:" + std::to_string(port), tok}, {}};
  }
  Made<Channel> open_parent() override {
    for (;;) {
      const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR && !cfg.cancelled()) continue;
        return Made<Channel>::Fail(sys_error("accept"));
      }
      Token got = 0;
      if (read_exact(fd, &got, sizeof got, cfg) && got == token) {
        conn = fd;
        break;
      }
      close(fd);  // a stranger, or a peer that died while connecting
      if (cfg.cancelled()) return Made<Channel>::Fail("the peer did not connect");
    }
    close_fd(listener);
    if (!set_nodelay(conn)) return Made<Channel>::Fail(sys_error("setsockopt TCP_NODELAY"));
    return {std::make_unique<FdChannel>(conn, conn, cfg, false), {}};
  }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<TcpLink>();
  link->cfg = cfg;
  if (getrandom(&link->token, sizeof link->token, 0) != sizeof link->token)
    return Made<Link>::Fail(sys_error("getrandom"));
  link->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (link->listener < 0) return Made<Link>::Fail(sys_error("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks a free port
  socklen_t len = sizeof addr;
  if (bind(link->listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(link->listener, 4) != 0 ||
      getsockname(link->listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return Made<Link>::Fail(sys_error("bind/listen on 127.0.0.1"));
  link->port = ntohs(addr.sin_port);
  return {std::move(link), {}};
}

Made<Channel> attach(const PeerSpec& spec, const ChannelConfig& cfg, Link*) {
  int port = 0;
  Token token = 0;
  if (spec.args.size() != 2 || std::sscanf(spec.args[0].c_str(), "tcp:%d", &port) != 1 ||
      std::sscanf(spec.args[1].c_str(), "%" SCNx64, &token) != 1)
    return Made<Channel>::Fail("peer spec does not name the port and token");
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Made<Channel>::Fail(sys_error("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(std::uint16_t(port));
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR && !cfg.cancelled());
  if (rc != 0 || !set_nodelay(fd) || ::write(fd, &token, sizeof token) != sizeof token) {
    const int err = errno;
    close(fd);
    return Made<Channel>::Fail(sys_error("connect to 127.0.0.1:" + std::to_string(port), err));
  }
  return {std::make_unique<FdChannel>(fd, fd, cfg, true), {}};
}

}  // namespace

extern const TransportDef kTcpTransport{
    .name = "tcp",
    .kind = Kind::kPipe,
    .peers = kAllPeers,
    .create = create,
    .attach = attach,
};

}  // namespace ipcm
