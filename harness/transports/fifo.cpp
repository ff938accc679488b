// Two named pipes in the run's private directory, one per direction: the named counterpart of
// pipe, for peers that find each other by path rather than by inheritance.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/transports/fd_channel.h"
#include "harness/core/names.h"
#include "harness/launch/peer.h"

namespace ipcm {
namespace {

// Both ends open the FIFOs in the same order (to-peer, then from-peer) with blocking opens,
// so each open returns only once the other side is there: no read can see a FIFO that has
// no writer yet, and no order deadlocks. A peer that never comes is handled by the
// watchdog, whose signal interrupts the open.
class FifoLink final : public Link {
 public:
  std::string to_peer, from_peer;
  int wfd = -1, rfd = -1;
  ChannelConfig cfg;
  std::optional<std::size_t> window;

  ~FifoLink() override {
    close_fd(wfd);
    close_fd(rfd);
    for (const std::string* p : {&to_peer, &from_peer}) {
      if (!p->empty()) {
        unlink(p->c_str());
        forget_object(NameSpace::kFile, *p);
      }
    }
  }
  PeerSpec peer_spec() const override { return {{"fifo:" + to_peer, from_peer}, {}}; }
  Made<Channel> open_parent() override {
    wfd = open_interruptible(to_peer.c_str(), O_WRONLY | O_CLOEXEC, cfg);
    if (wfd < 0) return Made<Channel>::Fail(sys_error("open " + to_peer));
    rfd = open_interruptible(from_peer.c_str(), O_RDONLY | O_CLOEXEC, cfg);
    if (rfd < 0) return Made<Channel>::Fail(sys_error("open " + from_peer));
    // Sized once both ends are open: a FIFO has no buffer before that.
    window = size_pipe_window(wfd, cfg);
    (void)size_pipe_window(rfd, cfg);
    return {std::make_unique<FdChannel>(rfd, wfd, cfg, false), {}};
  }
  std::optional<std::size_t> window_msgs() const override { return window; }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<FifoLink>();
  link->cfg = cfg;
  std::string why;
  const std::string* dir = try_private_dir(why);
  if (dir == nullptr) return Made<Link>::Fail(why);
  for (std::string* p : {&link->to_peer, &link->from_peer}) {
    const std::string path = *dir + "/" + unique_name("fifo");
    // mkfifo fails with EEXIST rather than reuse anything already at the path. The directory
    // is ours and 0700, so the FIFO's own mode matters little; 0600 all the same.
    if (mkfifo(path.c_str(), 0600) != 0) return Made<Link>::Fail(sys_error("mkfifo " + path));
    record_object(NameSpace::kFile, path);
    *p = path;
  }
  return {std::move(link), {}};
}

Made<Channel> attach(const PeerSpec& spec, const ChannelConfig& cfg, Link*) {
  if (spec.args.size() != 2 || spec.args[0].rfind("fifo:", 0) != 0)
    return Made<Channel>::Fail("peer spec does not name the FIFOs");
  const std::string to_peer = spec.args[0].substr(5), from_peer = spec.args[1];
  const int r = open_interruptible(to_peer.c_str(), O_RDONLY | O_CLOEXEC, cfg);
  if (r < 0) return Made<Channel>::Fail(sys_error("open " + to_peer));
  const int w = open_interruptible(from_peer.c_str(), O_WRONLY | O_CLOEXEC, cfg);
  if (w < 0) {
    const int err = errno;
    close(r);
    return Made<Channel>::Fail(sys_error("open " + from_peer, err));
  }
  return {std::make_unique<FdChannel>(r, w, cfg, true), {}};
}

}  // namespace

extern const TransportDef kFifoTransport{
    .name = "fifo",
    .kind = Kind::kPipe,
    .peers = kAllPeers,
    .create = create,
    .attach = attach,
};

}  // namespace ipcm
