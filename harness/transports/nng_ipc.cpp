// nng (nanomsg-next-gen) pair1 sockets over ipc:// (a Unix-domain socket): nng as users pick
// it between processes of one machine. The socket file sits in the run's private 0700
// directory (and is made 0600 itself), is removed with the link, with the directory at exit
// or on a signal, and by the next run's start-up sweep after a SIGKILL.
//
// nng cannot run in a forked child once the parent has used it: its library state (threads,
// pollers) does not survive fork, and nng aborts the child ("nng is not fork-reentrant
// safe"). So a fork peer is not offered; a spawned peer is a fresh program and is.
//
// Limits: nng drops, and closes the connection over, any message larger than the socket's
// NNG_OPT_RECVMAXSZ (1 MiB by default); every link sets it to its message size plus room for
// pair1's header, so it carries any size ipcmeter sends and nothing much larger (a message of
// another length that fits is caught by the length check, kCorrupt). Queues: NNG_OPT_SENDBUF/RECVBUF hold
// link_queue_msgs(cfg) each way, as the ZeroMQ transports' high-water marks.
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "harness/core/limits.h"
#include "harness/core/names.h"
#include "harness/launch/peer.h"
#include "harness/transports/transport.h"
#include "harness/transports/zmq_common.h"  // link_queue_msgs

namespace ipcm {
namespace {

constexpr std::string_view kArgPrefix = "nng_ipc:";
constexpr int kMaxNngBuffer = 8192;
// NNG_OPT_RECVMAXSZ bounds the frame on the wire, which carries pair1's protocol header (a
// 4-byte hop count) besides the message: room for it, with margin.
constexpr std::size_t kNngHeaderRoom = 64;

std::string nng_error(const std::string& what, int rv) { return what + ": " + nng_strerror(rv); }

// nng starts worker threads at its first socket and keeps them for the life of the process;
// the families that fork teams and farms refuse to fork while other threads live. So the last
// nng socket of the process to close also ends nng (nng_fini joins its threads); the next
// socket starts it again.
std::atomic<int> g_open_sockets{0};
int open_pair(nng_socket* s) {
  g_open_sockets.fetch_add(1);
  const int rv = nng_pair1_open(s);
  if (rv != 0 && g_open_sockets.fetch_sub(1) == 1) nng_fini();
  return rv;
}
void close_socket(nng_socket s) {
  nng_close(s);
  if (g_open_sockets.fetch_sub(1) == 1) nng_fini();
}

// Sets a fresh pair1 socket up for `cfg`; 0 or nng's error.
int configure(nng_socket s, const ChannelConfig& cfg) {
  const int buf = int(std::min<std::size_t>(link_queue_msgs(cfg), kMaxNngBuffer));
  const nng_duration poll_ms = nng_duration(std::chrono::milliseconds(kCancelPoll).count());
  int rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, cfg.msg_bytes + kNngHeaderRoom);
  if (rv == 0) rv = nng_socket_set_int(s, NNG_OPT_SENDBUF, buf);
  if (rv == 0) rv = nng_socket_set_int(s, NNG_OPT_RECVBUF, buf);
  if (rv == 0) rv = nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, poll_ms);
  if (rv == 0) rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, poll_ms);
  return rv;
}

class NngChannel final : public Channel {
 public:
  // Closes the socket on destruction only when `owns`: the parent borrows the link's.
  NngChannel(nng_socket s, const ChannelConfig& cfg, bool owns) : s_(s), cfg_(cfg), owns_(owns) {}
  ~NngChannel() override {
    release();
    if (aio_ != nullptr) nng_aio_free(aio_);
    if (owns_) close_socket(s_);
  }
  Status send(Bytes msg) noexcept override {
    // nng_send (without NNG_FLAG_ALLOC) copies the bytes before it returns.
    for (;;) {
      const int rv = nng_send(s_, const_cast<std::byte*>(msg.data()), msg.size(), 0);
      if (rv == 0) return Status::Ok();
      if (rv != NNG_ETIMEDOUT || cfg_.cancelled()) return failed("nng_send", rv);
    }
  }
  // Zero-copy: `out` views the nng_msg the message arrived in, kept until the next recv.
  Status recv(Bytes& out) noexcept override {
    release();
    const int flags = cfg_.wait == Wait::kSpin ? NNG_FLAG_NONBLOCK : 0;
    for (;;) {
      const int rv = nng_recvmsg(s_, &msg_, flags);
      if (rv == 0) return take(out);
      if ((rv != NNG_ETIMEDOUT && rv != NNG_EAGAIN) || cfg_.cancelled()) return failed("nng_recvmsg", rv);
    }
  }
  Status recv_until(Bytes& out, Deadline deadline) noexcept override {
    release();
    for (;;) {
      int rv = nng_recvmsg(s_, &msg_, NNG_FLAG_NONBLOCK);
      if (rv == 0) return take(out);
      if (rv != NNG_EAGAIN || cfg_.cancelled()) return failed("nng_recvmsg", rv);
      const auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) return Status::TimedOut("nng_recvmsg");
      if (cfg_.wait == Wait::kSpin) continue;
      // A receive that gives up at the deadline (whole milliseconds, rounded up) or after
      // kCancelPoll, whichever is first.
      if (aio_ == nullptr && (rv = nng_aio_alloc(&aio_, nullptr, nullptr)) != 0) return failed("nng_aio_alloc", rv);
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(std::min<Clock::duration>(left, kCancelPoll));
      nng_aio_set_timeout(aio_, nng_duration(ms.count()));
      nng_recv_aio(s_, aio_);
      nng_aio_wait(aio_);
      rv = nng_aio_result(aio_);
      if (rv == 0) {
        msg_ = nng_aio_get_msg(aio_);
        return take(out);
      }
      if (rv != NNG_ETIMEDOUT || cfg_.cancelled()) return failed("nng_recv_aio", rv);
    }
  }

 private:
  void release() noexcept {
    if (msg_ != nullptr) nng_msg_free(msg_);
    msg_ = nullptr;
  }
  Status take(Bytes& out) noexcept {
    if (nng_msg_len(msg_) != cfg_.msg_bytes) return Status::Corrupt("nng_recvmsg: message of the wrong length");
    out = Bytes(static_cast<const std::byte*>(nng_msg_body(msg_)), cfg_.msg_bytes);
    return Status::Ok();
  }
  Status failed(const char* what, int rv) noexcept {
    // NNG_ECLOSED: the link closed its socket (Link::interrupt, from the watchdog).
    if (cfg_.cancelled()) return Status::Cancelled(what);
    if (rv == NNG_ECLOSED) return Status::Closed(what);
    if (rv == NNG_ENOMEM) return Status::Sys(what, ENOMEM);
    return Status::Sys(what, EIO);  // nng's own codes have no errno; `what` names the call
  }
  nng_socket s_;
  ChannelConfig cfg_;
  bool owns_;
  nng_msg* msg_ = nullptr;
  nng_aio* aio_ = nullptr;
};

class NngIpcLink final : public Link {
 public:
  std::string path;
  ChannelConfig cfg;
  nng_socket sock = NNG_SOCKET_INITIALIZER;
  bool open = false;

  ~NngIpcLink() override {
    if (open) close_socket(sock);
    if (!path.empty()) {
      unlink(path.c_str());
      forget_object(NameSpace::kFile, path);
    }
  }
  PeerSpec peer_spec() const override { return {{std::string(kArgPrefix) + "ipc://" + path}, {}}; }
  Made<Channel> open_parent() override { return {std::make_unique<NngChannel>(sock, cfg, false), {}}; }
  // Closing the socket wakes every call blocked on it (NNG_ECLOSED); later calls fail the same
  // way, and the link's own close is then a no-op.
  void interrupt() noexcept override { nng_close(sock); }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<NngIpcLink>();
  link->cfg = cfg;
  std::string why;
  const std::string* dir = try_private_dir(why);
  if (dir == nullptr) return Made<Link>::Fail(why);
  const std::string path = *dir + "/" + unique_name("nng");
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return Made<Link>::Fail("socket path " + path + " is longer than a Unix socket address allows (" +
                            std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes); set TMPDIR to a shorter directory");
  if (int rv = open_pair(&link->sock); rv != 0) return Made<Link>::Fail(nng_error("nng_pair1_open", rv));
  link->open = true;
  if (int rv = configure(link->sock, cfg); rv != 0) return Made<Link>::Fail(nng_error("nng socket options", rv));
  const std::string url = "ipc://" + path;
  nng_listener l;
  int rv = nng_listener_create(&l, link->sock, url.c_str());
  if (rv == 0) rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600);
  if (rv == 0) {
    // Recorded before the listener creates the file, so that no exit path can miss it.
    record_object(NameSpace::kFile, path);
    link->path = path;
    rv = nng_listener_start(l, 0);
  }
  if (rv != 0) return Made<Link>::Fail(nng_error("nng listen " + url, rv));
  return {std::move(link), {}};
}

Made<Channel> attach(const PeerSpec& spec, const ChannelConfig& cfg, Link*) {
  if (spec.args.size() != 1 || spec.args[0].rfind(kArgPrefix, 0) != 0)
    return Made<Channel>::Fail("peer spec does not name the ipc:// endpoint");
  const std::string url = spec.args[0].substr(kArgPrefix.size());
  nng_socket s;
  if (int rv = open_pair(&s); rv != 0) return Made<Channel>::Fail(nng_error("nng_pair1_open", rv));
  int rv = configure(s, cfg);
  // Synchronous: the parent listens before the peer starts, so the first dial finds it.
  if (rv == 0) rv = nng_dial(s, url.c_str(), nullptr, 0);
  if (rv != 0) {
    close_socket(s);
    return Made<Channel>::Fail(nng_error("nng dial " + url, rv));
  }
  return {std::make_unique<NngChannel>(s, cfg, true), {}};
}

}  // namespace

extern const TransportDef kNngIpcTransport{
    .name = "nng_ipc",
    .kind = Kind::kQueue,
    .peers = PeerSet{PeerKind::kThread, PeerKind::kSpawn},
    .waits = {Wait::kSpin, Wait::kBlock},
    .peers_note = "nng aborts in a forked child of a process that has used it (it is not fork-safe); a spawned peer "
                  "is a fresh program",
    .library = "nng",
    .create = create,
    .attach = attach,
    .many_to_many = {.why_not = "nng has no linger: closing a finished producer's push0 socket can drop the messages it has queued but not yet sent (nng_close(3)), so every message could not be delivered exactly once"},
};

}  // namespace ipcm
