// TCP over loopback with TCP_NODELAY: the cost of going through the network stack, for
// users weighing a socket-based design (multiprocessing.connection.Listener, RPC).
#include <arpa/inet.h>
#include <fcntl.h>
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

// Any local process, of any user, can connect to a loopback port, and TCP has no SO_PEERCRED.
// So the peer proves itself with a random token before the parent takes the connection as its
// peer. The token travels in a pipe the peer inherits, never in argv: a spawned peer's argv
// is readable by every user in /proc/<pid>/cmdline.
using Token = std::uint64_t;

// How long an accepted connection has to present the token. The real peer writes it right
// after connect; a stranger that connects and stays silent must not hold the parent until the
// watchdog gives up, so it is dropped after this and the next connection accepted.
constexpr int kTokenWaitMs = 2000;

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

// The token from a connection, within kTokenWaitMs; false for silence, end-of-file or less.
bool read_token(int fd, Token& got, const ChannelConfig& cfg) {
  timeval tv{kTokenWaitMs / 1000, (kTokenWaitMs % 1000) * 1000};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) return false;
  if (!read_exact(fd, &got, sizeof got, cfg)) return false;
  timeval none{0, 0};
  return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none) == 0;
}

class TcpLink final : public Link {
 public:
  int listener = -1;
  int conn = -1;
  int port = 0;
  int token_fd = -1;  // read end of the pipe holding the token, for the peer
  Token token = 0;
  ChannelConfig cfg;

  ~TcpLink() override {
    close_fd(conn);
    close_fd(listener);
    close_fd(token_fd);
  }
  PeerSpec peer_spec() const override {
    return {{"tcp:" + std::to_string(port), "tokenfd:" + std::to_string(token_fd)}, {token_fd}};
  }
  Made<Channel> open_parent() override {
    int strangers = 0;
    for (;;) {
      const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR && !cfg.cancelled()) continue;
        return Made<Channel>::Fail(sys_error("accept"));
      }
      Token got = 0;
      if (read_token(fd, got, cfg) && got == token) {
        conn = fd;
        break;
      }
      close(fd);  // a stranger, or a peer that died while connecting
      ++strangers;
      if (cfg.cancelled())
        return Made<Channel>::Fail("the peer did not connect (" + std::to_string(strangers) +
                                   " connection(s) without the token were refused)");
    }
    close_fd(listener);
    if (!set_nodelay(conn)) return Made<Channel>::Fail(sys_error("setsockopt TCP_NODELAY"));
    return {std::make_unique<FdChannel>(conn, conn, cfg, false), {}};
  }
  void close_peer_side() noexcept override { close_fd(token_fd); }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<TcpLink>();
  link->cfg = cfg;
  if (getrandom(&link->token, sizeof link->token, 0) != sizeof link->token)
    return Made<Link>::Fail(sys_error("getrandom"));
  // The token waits in a pipe whose write end is closed at once: the peer reads exactly it,
  // then end-of-file; 8 bytes fit any pipe's buffer, so the write never blocks.
  int tp[2];
  if (pipe2(tp, O_CLOEXEC) != 0) return Made<Link>::Fail(sys_error("pipe2"));
  const bool written = ::write(tp[1], &link->token, sizeof link->token) == ssize_t(sizeof link->token);
  close(tp[1]);
  link->token_fd = tp[0];
  if (!written) return Made<Link>::Fail(sys_error("write token"));
  std::string why;
  std::uint16_t port = 0;
  link->listener = listen_loopback_tcp(0, 4, port, why);
  if (link->listener < 0) return Made<Link>::Fail("listen on 127.0.0.1: " + why);
  link->port = port;
  return {std::move(link), {}};
}

Made<Channel> attach(const PeerSpec& spec, const ChannelConfig& cfg, Link* same_process) {
  int port = 0, token_fd = -1;
  char end = 0;
  if (spec.args.size() != 2 || std::sscanf(spec.args[0].c_str(), "tcp:%d%c", &port, &end) != 1 ||
      std::sscanf(spec.args[1].c_str(), "tokenfd:%d%c", &token_fd, &end) != 1 || port <= 0 || port > 65535 ||
      token_fd < 0)
    return Made<Channel>::Fail("peer spec does not name the port and the token's descriptor");
  Token token = 0;
  const bool have_token = read_exact(token_fd, &token, sizeof token, cfg);
  // A process peer owns its inherited copy; a thread peer shares the link's, which the link closes.
  if (same_process == nullptr) close(token_fd);
  if (!have_token) return Made<Channel>::Fail(sys_error("read the token from descriptor " + std::to_string(token_fd)));
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
