// ZeroMQ PAIR sockets over inproc://: ZeroMQ's transport between threads of one process, where
// messages pass through an in-memory pipe between the two sockets without any system call on
// the data path. Both sockets must share one context, so only a thread can be the peer; the
// endpoint is a name within that context, with nothing on disk.
#include "harness/core/names.h"
#include "harness/launch/peer.h"
#include "harness/transports/zmq_common.h"

namespace ipcm {
namespace {

constexpr std::string_view kArgPrefix = "zmq_inproc:";

class ZmqInprocLink final : public Link {
 public:
  std::string endpoint;
  ChannelConfig cfg;
  zmq::context_t ctx;
  std::optional<zmq::socket_t> sock;

  ~ZmqInprocLink() override {
    sock.reset();
    ctx.close();
  }
  PeerSpec peer_spec() const override { return {{std::string(kArgPrefix) + endpoint}, {}}; }
  Made<Channel> open_parent() override { return {std::make_unique<ZmqChannel>(sock->handle(), cfg), {}}; }
  // Shuts the shared context down: both threads' blocked calls return at once.
  void interrupt() noexcept override { zmq_ctx_shutdown(ctx.handle()); }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<ZmqInprocLink>();
  link->cfg = cfg;
  link->endpoint = "inproc://" + unique_name("zmq");
  try {
    link->sock = make_pair_socket(link->ctx, cfg);
    link->sock->bind(link->endpoint);
  } catch (const zmq::error_t& e) {
    return Made<Link>::Fail(zmq_error("zmq bind " + link->endpoint, e));
  }
  return {std::move(link), {}};
}

Made<Channel> attach(const PeerSpec& spec, const ChannelConfig& cfg, Link* same_process) {
  auto* link = dynamic_cast<ZmqInprocLink*>(same_process);
  if (link == nullptr || spec.args.size() != 1 || spec.args[0] != std::string(kArgPrefix) + link->endpoint)
    return Made<Channel>::Fail("zmq_inproc needs the parent's link: it connects threads of one process only");
  try {
    // The peer's socket in the link's context (inproc endpoints exist only within one); the
    // socket is the channel's, the context stays the link's, which outlives the peer.
    zmq::socket_t s = make_pair_socket(link->ctx, cfg);
    s.connect(link->endpoint);
    void* h = s.handle();
    return {std::make_unique<ZmqChannel>(h, cfg, nullptr, std::move(s)), {}};
  } catch (const zmq::error_t& e) {
    return Made<Channel>::Fail(zmq_error("zmq connect " + link->endpoint, e));
  }
}

}  // namespace

extern const TransportDef kZmqInprocTransport{
    .name = "zmq_inproc",
    .kind = Kind::kQueue,
    .peers = PeerSet::in_process(),
    .waits = {Wait::kSpin, Wait::kBlock},
    .library = "zeromq",
    .create = create,
    .attach = attach,
    .many_to_many = {.why_not = "inproc:// endpoints live in one ZeroMQ context, which the forwarding device (zmq_ipc's) and every party would have to share; zmq_ipc runs the same device"},
};

}  // namespace ipcm
