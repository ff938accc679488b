// ZeroMQ PAIR sockets over tcp:// on 127.0.0.1: ZeroMQ as users deploy it between hosts, here
// over loopback. The port is the kernel's choice: create() listens on port 0 with a kernel
// socket, which the parent's ZeroMQ socket takes over in open_parent() (zmq_common.h: contexts
// and fork).
//
// Strangers: any local process of any user can connect to a loopback port, and a bound PAIR
// socket takes the first peer that completes ZeroMQ's handshake as its only one. So the
// handshake itself keeps strangers out: the bound socket is a ZMQ_PLAIN server, and the
// parent answers ZeroMQ's authentication requests (ZAP, RFC 27) itself in open_parent(),
// accepting only the password the peer was given: 16 random bytes read from a pipe it
// inherits (never argv, which every user can read in /proc/<pid>/cmdline). A connection
// without it fails its handshake before it is attached to the socket, so it can neither take
// the peer's place nor send a message. Once the peer is in, the ZAP handler is closed, and
// libzmq then refuses every later PLAIN handshake. PLAIN only authenticates: it neither
// encrypts nor changes the data frames, so the rows measure ZeroMQ's plain TCP path.
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "harness/launch/peer.h"
#include "harness/transports/fd_channel.h"
#include "harness/transports/zmq_common.h"

namespace ipcm {
namespace {

constexpr std::string_view kArgPrefix = "zmq_tcp:";
constexpr const char* kUser = "ipcmeter";
// libzmq's fixed address for the authentication handler of a context.
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr std::size_t kTokenBytes = 16;

std::string to_hex(const std::array<unsigned char, kTokenBytes>& t) {
  std::string s;
  char b[3];
  for (unsigned char c : t) {
    std::snprintf(b, sizeof b, "%02x", c);
    s += b;
  }
  return s;
}

bool read_exact(int fd, void* p, std::size_t n) {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, b, n);
    if (r > 0) {
      b += r;
      n -= std::size_t(r);
    } else if (!(r < 0 && errno == EINTR)) {
      return false;
    }
  }
  return true;
}

class ZmqTcpLink final : public Link {
 public:
  std::string endpoint;  // tcp://127.0.0.1:PORT
  std::string password;  // the token, in hex
  int token_fd = -1;     // read end of the pipe holding the token, for the peer
  int listen_fd = -1;    // listening on the endpoint until the parent's ZeroMQ socket takes it over
  ChannelConfig cfg;
  zmq::context_t ctx;
  std::optional<zmq::socket_t> zap;  // until the peer is in
  std::optional<zmq::socket_t> sock;

  ~ZmqTcpLink() override {
    zap.reset();
    sock.reset();
    ctx.close();
    close_fd(token_fd);
    close_fd(listen_fd);
  }
  PeerSpec peer_spec() const override {
    return {{std::string(kArgPrefix) + endpoint, "tokenfd:" + std::to_string(token_fd)}, {token_fd}};
  }
  Made<Channel> open_parent() override {
    try {
      // The handler first: a handshake that finds none is refused.
      zap.emplace(ctx, zmq::socket_type::rep);
      zap->set(zmq::sockopt::linger, 0);
      zap->bind(kZapEndpoint);
      sock = make_pair_socket(ctx, cfg);
      sock->set(zmq::sockopt::plain_server, 1);
      sock->set(zmq::sockopt::zap_domain, "ipcmeter");
      bind_listening(*sock, listen_fd, endpoint);
    } catch (const zmq::error_t& e) {
      return Made<Channel>::Fail(zmq_error("zmq bind " + endpoint, e));
    }
    int strangers = 0;
    while (zap) {
      zmq::pollitem_t item{zap->handle(), 0, ZMQ_POLLIN, 0};
      const int ready = zmq_poll(&item, 1, long(std::chrono::milliseconds(kCancelPoll).count()));
      if (ready < 0 && zmq_errno() != EINTR && zmq_errno() != ETERM) return Made<Channel>::Fail("zmq_poll on the ZAP handler");
      if (cfg.cancelled() || (ready < 0 && zmq_errno() == ETERM))
        return Made<Channel>::Fail("the peer did not connect (" + std::to_string(strangers) +
                                   " connection(s) without the token were refused)");
      if (ready <= 0) continue;
      const std::string verdict = answer_zap();
      if (verdict == "accepted") zap.reset();  // every later handshake is refused
      else if (verdict == "refused") ++strangers;
      else return Made<Channel>::Fail(verdict);
    }
    return {std::make_unique<ZmqChannel>(sock->handle(), cfg), {}};
  }
  void close_peer_side() noexcept override { close_fd(token_fd); }
  void interrupt() noexcept override { zmq_ctx_shutdown(ctx.handle()); }

 private:
  // One ZAP request: version, request id, domain, address, identity, mechanism, credentials.
  // "accepted", "refused", or why the handler failed.
  std::string answer_zap() {
    std::vector<zmq::message_t> frames;
    try {
      for (;;) {
        zmq::message_t m;
        if (!zap->recv(m, zmq::recv_flags::dontwait)) return "ZAP request ended early";
        const bool more = m.more();
        frames.push_back(std::move(m));
        if (!more) break;
      }
      const bool ok = frames.size() == 8 && frames[0].to_string_view() == "1.0" &&
                      frames[5].to_string_view() == "PLAIN" && frames[6].to_string_view() == kUser &&
                      frames[7].to_string_view() == password;
      const std::string request_id = frames.size() > 1 ? frames[1].to_string() : std::string();
      zap->send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
      zap->send(zmq::buffer(request_id), zmq::send_flags::sndmore);
      zap->send(zmq::buffer(std::string(ok ? "200" : "400")), zmq::send_flags::sndmore);
      zap->send(zmq::buffer(std::string(ok ? "OK" : "wrong token")), zmq::send_flags::sndmore);
      zap->send(zmq::str_buffer(""), zmq::send_flags::sndmore);  // user id
      zap->send(zmq::str_buffer(""), zmq::send_flags::none);     // metadata
      return ok ? "accepted" : "refused";
    } catch (const zmq::error_t& e) {
      return zmq_error("ZAP handler", e);
    }
  }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<ZmqTcpLink>();
  link->cfg = cfg;
  std::array<unsigned char, kTokenBytes> token{};
  if (getrandom(token.data(), token.size(), 0) != ssize_t(token.size())) return Made<Link>::Fail(sys_error("getrandom"));
  link->password = to_hex(token);
  // As tcp.cpp: the token waits in a pipe whose write end is closed at once; 32 bytes fit any
  // pipe's buffer, so the write never blocks.
  int tp[2];
  if (pipe2(tp, O_CLOEXEC) != 0) return Made<Link>::Fail(sys_error("pipe2"));
  const bool written = ::write(tp[1], link->password.data(), link->password.size()) == ssize_t(link->password.size());
  close(tp[1]);
  link->token_fd = tp[0];
  if (!written) return Made<Link>::Fail(sys_error("write token"));
  std::string why;
  std::uint16_t port = 0;
  link->listen_fd = listen_loopback_tcp(SOCK_NONBLOCK, kZmqBacklog, port, why);
  if (link->listen_fd < 0) return Made<Link>::Fail("listen on 127.0.0.1: " + why);
  link->endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  return {std::move(link), {}};
}

Made<Channel> attach(const PeerSpec& spec, const ChannelConfig& cfg, Link* same_process) {
  int token_fd = -1;
  char end = 0;
  if (spec.args.size() != 2 || spec.args[0].rfind(kArgPrefix, 0) != 0 ||
      std::sscanf(spec.args[1].c_str(), "tokenfd:%d%c", &token_fd, &end) != 1 || token_fd < 0)
    return Made<Channel>::Fail("peer spec does not name the endpoint and the token's descriptor");
  const std::string endpoint = spec.args[0].substr(kArgPrefix.size());
  std::string password(2 * kTokenBytes, '\0');
  const bool have_token = read_exact(token_fd, password.data(), password.size());
  // A process peer owns its inherited copy; a thread peer shares the link's, which the link closes.
  if (same_process == nullptr) close(token_fd);
  if (!have_token) return Made<Channel>::Fail(sys_error("read the token from descriptor " + std::to_string(token_fd)));
  return connect_peer_channel(endpoint, cfg, [&](zmq::socket_t& s) {
    s.set(zmq::sockopt::plain_username, kUser);
    s.set(zmq::sockopt::plain_password, password);
  });
}

}  // namespace

extern const TransportDef kZmqTcpTransport{
    .name = "zmq_tcp",
    .kind = Kind::kQueue,
    .peers = kAllPeers,
    .waits = {Wait::kSpin, Wait::kBlock},
    .library = "zeromq",
    .create = create,
    .attach = attach,
    .many_to_many = {.why_not = "its forwarding device (zmq_ipc's, see there) would take connections from anyone on this machine: zmq_tcp's PLAIN handshake with a one-time password (docs/security.md) is not set up on the device's two sockets"},
};

}  // namespace ipcm
