// A connected pair of Unix stream sockets: what multiprocessing.Pipe() (duplex) is built on.
#include <sys/socket.h>
#include <unistd.h>

#include "harness/transports/fd_channel.h"
#include "harness/launch/peer.h"

namespace ipcm {
namespace {

class SocketpairLink final : public Link {
 public:
  int sv[2] = {-1, -1};  // parent uses [0], peer [1]
  ChannelConfig cfg;
  std::optional<std::size_t> window;

  ~SocketpairLink() override {
    close_fd(sv[0]);
    close_fd(sv[1]);
  }
  PeerSpec peer_spec() const override { return {{fd_pair_arg(sv[1], sv[1])}, {sv[1]}}; }
  Made<Channel> open_parent() override {
    return {std::make_unique<FdChannel>(sv[0], sv[0], cfg, false), {}};
  }
  void close_peer_side() noexcept override { close_fd(sv[1]); }
  std::optional<std::size_t> window_msgs() const override { return window; }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<SocketpairLink>();
  link->cfg = cfg;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, link->sv) != 0)
    return Made<Link>::Fail(sys_error("socketpair"));
  // Both ends are still here, so the window can be counted before the peer exists.
  link->window = size_socket_window(link->sv[0], link->sv[1], cfg);
  return {std::move(link), {}};
}

}  // namespace

extern const TransportDef kSocketpairTransport{
    .name = "socketpair",
    .kind = Kind::kPipe,
    .peers = kAllPeers,
    .create = create,
    .attach = attach_fd_pair,
};

}  // namespace ipcm
