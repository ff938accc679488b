#include "harness/transports/zmq_common.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>

#include "harness/core/limits.h"

namespace ipcm {

zmq::socket_t make_pair_socket(zmq::context_t& ctx, const ChannelConfig& cfg) {
  zmq::socket_t s(ctx, zmq::socket_type::pair);
  const int poll_ms = int(std::chrono::milliseconds(kCancelPoll).count());
  s.set(zmq::sockopt::linger, 0);
  // One message in flight (a pingpong link, depth 1) keeps ZeroMQ's default marks (1000), which
  // never bind there. A mark of 2 makes the reading side send ZeroMQ's flow-control command
  // (activate_write) back through both I/O threads after every message: +30 us a round trip on
  // the 2-vCPU test VM (docs/probes/zmq_rtt.cpp with and without hwm=2: 105-113 against 77 us),
  // a cost of that setting, not of ZeroMQ as a request-reply program runs it.
  if (cfg.depth > 1) {
    const int hwm = int(link_queue_msgs(cfg));
    s.set(zmq::sockopt::sndhwm, hwm);
    s.set(zmq::sockopt::rcvhwm, hwm);
  }
  // ZMQ_MAXMSGSIZE also bounds ZeroMQ's handshake commands (READY with its metadata, PLAIN's
  // HELLO): room for them, or a link of 8-byte messages never connects. A message of another
  // length within it is caught by the length check (kCorrupt).
  constexpr std::size_t kCommandRoom = 512;
  s.set(zmq::sockopt::maxmsgsize, std::int64_t(std::max(cfg.msg_bytes, kCommandRoom)));
  s.set(zmq::sockopt::sndtimeo, poll_ms);
  s.set(zmq::sockopt::rcvtimeo, poll_ms);
  return s;
}

void bind_listening(zmq::socket_t& s, int& fd, const std::string& endpoint) {
  s.set(zmq::sockopt::use_fd, fd);
  s.bind(endpoint);
  fd = -1;
}

std::size_t link_queue_msgs(const ChannelConfig& cfg) {
  return std::clamp(std::min(cfg.depth, kLinkBytesBudget / cfg.msg_bytes), kMinLinkSlots, kStreamWindow);
}

std::string zmq_error(const std::string& what, const zmq::error_t& e) { return what + ": " + e.what(); }

Made<Channel> connect_peer_channel(const std::string& endpoint, const ChannelConfig& cfg,
                                   const std::function<void(zmq::socket_t&)>& before_connect) {
  try {
    auto ctx = std::make_unique<zmq::context_t>();
    zmq::socket_t s = make_pair_socket(*ctx, cfg);
    if (before_connect) before_connect(s);
    s.connect(endpoint);
    void* h = s.handle();
    return {std::make_unique<ZmqChannel>(h, cfg, std::move(ctx), std::move(s)), {}};
  } catch (const zmq::error_t& e) {
    return Made<Channel>::Fail(zmq_error("zmq connect " + endpoint, e));
  }
}

ZmqChannel::ZmqChannel(void* sock, const ChannelConfig& cfg, std::unique_ptr<zmq::context_t> owned_ctx,
                       std::optional<zmq::socket_t> owned_sock)
    : owned_ctx_(std::move(owned_ctx)), owned_sock_(std::move(owned_sock)), sock_(sock), cfg_(cfg) {
  if (owned_sock_) sock_ = owned_sock_->handle();
  zmq_msg_init(&msg_);
}

ZmqChannel::~ZmqChannel() { zmq_msg_close(&msg_); }

Status ZmqChannel::failed(const char* what) noexcept {
  const int err = zmq_errno();
  // ETERM: the link's context was shut down (Link::interrupt, from the watchdog).
  if (cfg_.cancelled()) return Status::Cancelled(what);
  if (err == ETERM) return Status::Closed(what);
  return Status::Sys(what, err);
}

Status ZmqChannel::send(Bytes msg) noexcept {
  // zmq_send copies the bytes into a message of its own before it returns.
  for (;;) {
    if (zmq_send(sock_, msg.data(), msg.size(), 0) >= 0) return Status::Ok();
    const int err = zmq_errno();
    if ((err != EAGAIN && err != EINTR) || cfg_.cancelled()) return failed("zmq_send");
  }
}

Status ZmqChannel::take(Bytes& out) noexcept {
  if (zmq_msg_size(&msg_) != cfg_.msg_bytes) return Status::Corrupt("zmq_msg_recv: message of the wrong length");
  out = Bytes(static_cast<const std::byte*>(zmq_msg_data(&msg_)), cfg_.msg_bytes);
  return Status::Ok();
}

Status ZmqChannel::recv(Bytes& out) noexcept {
  // spin: non-blocking receives back to back; block: receives that wait up to kCancelPoll.
  const int flags = cfg_.wait == Wait::kSpin ? ZMQ_DONTWAIT : 0;
  for (;;) {
    if (zmq_msg_recv(&msg_, sock_, flags) >= 0) return take(out);
    const int err = zmq_errno();
    if ((err != EAGAIN && err != EINTR) || cfg_.cancelled()) return failed("zmq_msg_recv");
  }
}

Status ZmqChannel::recv_until(Bytes& out, Deadline deadline) noexcept {
  for (;;) {
    if (zmq_msg_recv(&msg_, sock_, ZMQ_DONTWAIT) >= 0) return take(out);
    const int err = zmq_errno();
    if ((err != EAGAIN && err != EINTR) || cfg_.cancelled()) return failed("zmq_msg_recv");
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return Status::TimedOut("zmq_msg_recv");
    if (cfg_.wait == Wait::kSpin) continue;
    // zmq_poll counts whole milliseconds: round up, so it never returns before the deadline
    // with nothing, and wait at most kCancelPoll to look at the cancel flag.
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(std::min<Clock::duration>(left, kCancelPoll));
    zmq_pollitem_t item{sock_, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, long(ms.count())) < 0 && zmq_errno() != EINTR) return failed("zmq_poll");
  }
}

}  // namespace ipcm
