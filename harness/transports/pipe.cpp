// Two anonymous pipes, one per direction: the native layer under multiprocessing.Pipe(duplex=False)
// and under Queue's feeder thread. The peer inherits its two descriptors.
#include <fcntl.h>
#include <unistd.h>

#include "harness/transports/fd_channel.h"
#include "harness/launch/peer.h"

namespace ipcm {
namespace {

class PipeLink final : public Link {
 public:
  int to_peer[2] = {-1, -1};    // parent writes [1], peer reads [0]
  int from_peer[2] = {-1, -1};  // peer writes [1], parent reads [0]
  ChannelConfig cfg;
  std::optional<std::size_t> window;

  ~PipeLink() override {
    for (int* fd : {&to_peer[0], &to_peer[1], &from_peer[0], &from_peer[1]}) close_fd(*fd);
  }
  PeerSpec peer_spec() const override {
    return {{fd_pair_arg(to_peer[0], from_peer[1])}, {to_peer[0], from_peer[1]}};
  }
  Made<Channel> open_parent() override {
    // The channel borrows the descriptors; the link closes them.
    return {std::make_unique<FdChannel>(from_peer[0], to_peer[1], cfg, false), {}};
  }
  void close_peer_side() noexcept override {
    close_fd(to_peer[0]);
    close_fd(from_peer[1]);
  }
  std::optional<std::size_t> window_msgs() const override { return window; }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<PipeLink>();
  link->cfg = cfg;
  if (pipe2(link->to_peer, O_CLOEXEC) != 0 || pipe2(link->from_peer, O_CLOEXEC) != 0)
    return Made<Link>::Fail(sys_error("pipe2"));
  link->window = size_pipe_window(link->to_peer[1], cfg);
  (void)size_pipe_window(link->from_peer[1], cfg);
  return {std::move(link), {}};
}

}  // namespace

extern const TransportDef kPipeTransport{
    .name = "pipe",
    .kind = Kind::kPipe,
    .peers = kAllPeers,
    .create = create,
    .attach = attach_fd_pair,
};

}  // namespace ipcm
