// ZeroMQ PAIR sockets over ipc:// (a Unix-domain socket): what users of ZeroMQ pick between
// processes of one machine. The socket file sits in the run's private 0700 directory, so no
// other user can connect to it; it is removed with the link, with the directory at exit or on
// a signal, and by the next run's start-up sweep after a SIGKILL (the directory carries the
// dead run's pid). A peer's death is not signalled on a PAIR socket: the blocked side sees the
// cancel flag the session's watchdog sets when it reaps the dead peer. fanin runs over ZeroMQ's
// forwarding device (PUSH/PULL through a thread of the parent; zmq_common.h), its two sockets in
// the same directory.
#include <sys/un.h>
#include <unistd.h>

#include "harness/core/names.h"
#include "harness/launch/peer.h"
#include "harness/transports/fd_channel.h"
#include "harness/transports/zmq_common.h"

namespace ipcm {
namespace {

constexpr std::string_view kArgPrefix = "zmq_ipc:";

class ZmqIpcLink final : public Link {
 public:
  std::string path;     // the socket file
  int listen_fd = -1;   // listening on `path` until the parent's ZeroMQ socket takes it over
  ChannelConfig cfg;
  // Declared before the socket: destroyed after it. Its threads start with its first socket,
  // in open_parent() (zmq_common.h: contexts and fork).
  zmq::context_t ctx;
  std::optional<zmq::socket_t> sock;

  ~ZmqIpcLink() override;
  PeerSpec peer_spec() const override { return {{std::string(kArgPrefix) + "ipc://" + path}, {}}; }
  Made<Channel> open_parent() override {
    try {
      sock = make_pair_socket(ctx, cfg);
      bind_listening(*sock, listen_fd, "ipc://" + path);
    } catch (const zmq::error_t& e) {
      return Made<Channel>::Fail(zmq_error("zmq bind ipc://" + path, e));
    }
    return {std::make_unique<ZmqChannel>(sock->handle(), cfg), {}};
  }
  // Wakes every call blocked on the parent's socket at once (ETERM) rather than at the next poll.
  void interrupt() noexcept override { zmq_ctx_shutdown(ctx.handle()); }
};

// A listening Unix socket at `path` in the run's private directory, recorded before the bind
// creates the file, so that no exit path can miss it; -1 with `why`.
int listen_at(const std::string& path, std::string& why) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    why = "socket path " + path + " is longer than a Unix socket address allows (" +
          std::to_string(sizeof(addr.sun_path) - 1) + " bytes); set TMPDIR to a shorter directory";
    return -1;
  }
  path.copy(addr.sun_path, path.size());
  record_object(NameSpace::kFile, path);
  const int fd = listen_socket(reinterpret_cast<const sockaddr*>(&addr), sizeof addr, SOCK_NONBLOCK, kZmqBacklog, why);
  if (fd < 0) why = "listen on " + path + ": " + why;
  return fd;
}

void remove_socket_file(const std::string& path) {
  unlink(path.c_str());  // ZeroMQ does not remove a file it did not bind itself
  forget_object(NameSpace::kFile, path);
}

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<ZmqIpcLink>();
  link->cfg = cfg;
  std::string why;
  const std::string* dir = try_private_dir(why);
  if (dir == nullptr) return Made<Link>::Fail(why);
  link->path = *dir + "/" + unique_name("zmq");
  link->listen_fd = listen_at(link->path, why);
  if (link->listen_fd < 0) return Made<Link>::Fail(why);
  return {std::move(link), {}};
}

ZmqIpcLink::~ZmqIpcLink() {
  sock.reset();
  ctx.close();
  close_fd(listen_fd);
  if (!path.empty()) remove_socket_file(path);
}

// fanin: ZeroMQ's forwarding device between two sockets in the private directory (zmq_common.h).
Made<SharedQueue> create_shared(const QueueConfig& cfg) {
  std::string why;
  const std::string* dir = try_private_dir(why);
  if (dir == nullptr) return Made<SharedQueue>::Fail(why);
  const std::string base = *dir + "/" + unique_name("fanin-zmq");
  const std::string in = base + std::string(kDeviceIn), out = base + std::string(kDeviceOut);
  if (("ipc://" + base).size() >= kQueueAddressBytes)
    return Made<SharedQueue>::Fail("the queue's address ipc://" + base + " is longer than a party can be told (" +
                                   std::to_string(kQueueAddressBytes - 1) + " bytes); set TMPDIR to a shorter directory");
  int in_fd = listen_at(in, why);
  if (in_fd < 0) {
    remove_socket_file(in);
    return Made<SharedQueue>::Fail(why);
  }
  const int out_fd = listen_at(out, why);
  if (out_fd < 0) {
    close_fd(in_fd);
    remove_socket_file(in);
    remove_socket_file(out);
    return Made<SharedQueue>::Fail(why);
  }
  return make_device_queue("ipc://" + base, in_fd, out_fd, cfg, [in, out] {
    remove_socket_file(in);
    remove_socket_file(out);
  });
}

Made<QueueEnd> open_shared(const std::string& address, const QueueConfig& cfg, SharedQueue*) {
  if (address.rfind("ipc://", 0) != 0) return Made<QueueEnd>::Fail("the queue's address is not an ipc:// endpoint");
  return open_device_end(address, cfg);
}

Made<Channel> attach(const PeerSpec& spec, const ChannelConfig& cfg, Link*) {
  if (spec.args.size() != 1 || spec.args[0].rfind(kArgPrefix, 0) != 0)
    return Made<Channel>::Fail("peer spec does not name the ipc:// endpoint");
  const std::string endpoint = spec.args[0].substr(kArgPrefix.size());
  return connect_peer_channel(endpoint, cfg);
}

}  // namespace

extern const TransportDef kZmqIpcTransport{
    .name = "zmq_ipc",
    .kind = Kind::kQueue,
    .peers = kAllPeers,
    .waits = {Wait::kSpin, Wait::kBlock},
    .library = "zeromq",
    .create = create,
    .attach = attach,
    .many_to_many = {.create = create_shared, .open = open_shared},
};

}  // namespace ipcm
