#include "harness/transports/zmq_common.h"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <thread>

#include "harness/core/check.h"
#include "harness/core/limits.h"
#include "harness/transports/fd_channel.h"

namespace ipcm {

namespace {
// ZMQ_MAXMSGSIZE also bounds ZeroMQ's handshake commands (READY with its metadata, PLAIN's
// HELLO): room for them, or a link of 8-byte messages never connects. A message of another
// length within it is caught by the length check (kCorrupt).
constexpr std::size_t kCommandRoom = 512;
}  // namespace

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

// ---- fanin: the device queue (zmq_common.h) ----

namespace {

// A device-queue socket: the queue's depth as its high-water mark each way, no message beyond
// the queue's size (or a handshake), no linger (closing never waits for a party that is gone).
void set_queue_socket(zmq::socket_t& s, const QueueConfig& cfg) {
  const int hwm = int(std::max<std::size_t>(cfg.depth, 1));
  s.set(zmq::sockopt::sndhwm, hwm);
  s.set(zmq::sockopt::rcvhwm, hwm);
  s.set(zmq::sockopt::maxmsgsize, std::int64_t(std::max(cfg.msg_bytes, kCommandRoom)));
  s.set(zmq::sockopt::linger, 0);
}

class DeviceQueue final : public SharedQueue {
 public:
  DeviceQueue(std::string base, int in_fd, int out_fd, const QueueConfig& cfg, std::function<void()> on_destroy)
      : base_(std::move(base)), in_fd_(in_fd), out_fd_(out_fd), cfg_(cfg), on_destroy_(std::move(on_destroy)) {}
  ~DeviceQueue() override {
    if (device_.joinable()) {
      zmq_ctx_shutdown(ctx_.handle());  // ends the device: every call it makes returns ETERM
      device_.join();
    }
    front_.reset();
    back_.reset();
    ctx_.close();
    close_fd(in_fd_);  // when start_serving never handed them to ZeroMQ
    close_fd(out_fd_);
    if (on_destroy_) on_destroy_();
  }
  std::string address() const override { return base_; }

  std::string start_serving() override {
    try {
      front_.emplace(ctx_, zmq::socket_type::router);
      back_.emplace(ctx_, zmq::socket_type::push);
      set_queue_socket(*front_, cfg_);
      set_queue_socket(*back_, cfg_);
      // The device's input takes whatever it is given. With a mark there, ZeroMQ stops reading a
      // producer's connection once the mark is reached, and when that producer then closes (all
      // its messages written into the kernel's socket buffer, so its linger ends at once), the
      // unread ones are dropped with the connection: 2,670 of a producer's 5,003 64-byte
      // messages were lost so (FaninExactlyOnce, 2026-12-02). Producers are then held back only
      // by the kernel's buffers and their own mark; the marks toward consumers stay.
      front_->set(zmq::sockopt::rcvhwm, 0);
      bind_listening(*front_, in_fd_, base_ + std::string(kDeviceIn));
      bind_listening(*back_, out_fd_, base_ + std::string(kDeviceOut));
    } catch (const zmq::error_t& e) {
      return zmq_error("zmq device bind " + base_, e);
    }
    device_ = std::thread([this] { forward(); });
    has_clock_ = pthread_getcpuclockid(device_.native_handle(), &device_clock_) == 0;
    return "";
  }

  std::uint64_t serving_cpu_ns() const noexcept override {
    timespec ts{};
    if (!has_clock_ || clock_gettime(device_clock_, &ts) != 0) return 0;
    return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
  }

 private:
  // The device: each message from the input, as it arrives, to the output; an empty one (a
  // producer's finish(): every message of the queue is cfg.msg_bytes long, at least 1) answered
  // to its producer once every message before it has gone to the output. Its own loop rather
  // than zmq_proxy, so that a full consumer makes it wait (a blocking send) instead of ending it.
  // The context's shutdown ends it: every call it makes then returns ETERM.
  void forward() noexcept {
    zmq_msg_t from, msg;  // the ROUTER's first frame (the producer's identity), then its message
    zmq_msg_init(&from);
    zmq_msg_init(&msg);
    const long poll_ms = long(std::chrono::milliseconds(kCancelPoll).count());
    while (serve(from, msg, poll_ms)) {
    }
    zmq_msg_close(&msg);
    zmq_msg_close(&from);
  }

  // One poll and every message waiting after it (as zmq_proxy forwards bursts: one poll per
  // message made the device the queue's bottleneck, ~10 us a message at 64 B); false once the
  // queue is going (ETERM).
  bool serve(zmq_msg_t& from, zmq_msg_t& msg, long poll_ms) noexcept {
    zmq_pollitem_t item{front_->handle(), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, poll_ms) < 0) return zmq_errno() == EINTR;
    if ((item.revents & ZMQ_POLLIN) == 0) return true;
    for (;;) {
      if (zmq_msg_recv(&from, front_->handle(), ZMQ_DONTWAIT) < 0)
        return zmq_errno() == EAGAIN || zmq_errno() == EINTR;
      // A ROUTER hands a message's frames over together: its body is there already. A DEALER
      // sends one frame a put, so an identity without one is a broken invariant of libzmq's.
      IPCM_CHECK(zmq_msg_more(&from) == 1);
      while (zmq_msg_recv(&msg, front_->handle(), 0) < 0)
        if (zmq_errno() != EINTR) return false;
      if (zmq_msg_size(&msg) == 0) {
        // The identity, then an empty frame: the producer's DEALER gets the empty frame. A ROUTER
        // never waits to send (it drops what it cannot route: a producer already gone).
        const bool answered =
            zmq_msg_send(&from, front_->handle(), ZMQ_SNDMORE) >= 0 && zmq_send(front_->handle(), nullptr, 0, 0) >= 0;
        if (!answered && zmq_errno() == ETERM) return false;
        continue;
      }
      while (zmq_msg_send(&msg, back_->handle(), 0) < 0)
        if (zmq_errno() != EINTR) return false;
    }
  }

  std::string base_;
  int in_fd_, out_fd_;
  QueueConfig cfg_;
  std::function<void()> on_destroy_;
  // The context before its sockets: destroyed after them. Its threads start with the first
  // socket, in start_serving().
  zmq::context_t ctx_;
  std::optional<zmq::socket_t> front_, back_;
  std::thread device_;
  clockid_t device_clock_{};  // the device thread's CPU clock
  bool has_clock_ = false;
};

class DeviceEnd final : public QueueEnd {
 public:
  DeviceEnd(std::string base, const QueueConfig& cfg) : base_(std::move(base)), cfg_(cfg) {}
  ~DeviceEnd() override {
    // A party that put without finish() (one that failed, or the parent's stops, which need not
    // all be taken): closing still waits a while for its messages (ZMQ_LINGER), unless the group
    // was cancelled and nobody will take them.
    if (to_device_ && cfg_.cancelled()) to_device_->set(zmq::sockopt::linger, 0);
    to_device_.reset();
    pull_.reset();
    ctx_.close();
  }
  // The DEALER socket at once, so that a producer's first put finds it connected.
  std::string open() {
    try {
      to_device_.emplace(ctx_, zmq::socket_type::dealer);
      set_queue_socket(*to_device_, cfg_);
      to_device_->set(zmq::sockopt::linger, int(std::chrono::milliseconds(peer_timeout()).count()));
      to_device_->set(zmq::sockopt::sndtimeo, int(std::chrono::milliseconds(kCancelPoll).count()));
      to_device_->set(zmq::sockopt::rcvtimeo, int(std::chrono::milliseconds(kCancelPoll).count()));
      to_device_->connect(base_ + std::string(kDeviceIn));
    } catch (const zmq::error_t& e) {
      return zmq_error("zmq connect " + base_ + std::string(kDeviceIn), e);
    }
    return "";
  }

  Status put(Bytes msg) noexcept override { return send_to_device(msg); }

  // An empty message after the last (the device answers it once it has taken every message
  // before it, zmq_common.h), then its empty answer, within the peer timeout.
  Status finish() noexcept override {
    if (const Status st = send_to_device(Bytes()); !st) return st;
    const auto deadline = Clock::now() + peer_timeout();
    std::byte answer[1];
    for (;;) {
      const int n = zmq_recv(to_device_->handle(), answer, sizeof answer, 0);
      if (n == 0) return Status::Ok();
      if (n > 0) return Status::Corrupt("zmq_recv: the device's answer to finish() is not empty", std::uint32_t(n));
      const int err = zmq_errno();
      if (cfg_.cancelled()) return Status::Cancelled("zmq_recv");
      if (err != EAGAIN && err != EINTR) return Status::Sys("zmq_recv", err);
      if (Clock::now() >= deadline) return Status::TimedOut("zmq_recv: the device did not answer finish()");
    }
  }

  Status get(std::span<std::byte> buf, std::size_t& got) noexcept override {
    // Connected at the first get: the device offers messages to every connected PULL socket, so
    // a party that never gets (a producer, the parent) must not have one. Once per consumer.
    if (!pull_) {
      try {
        pull_.emplace(ctx_, zmq::socket_type::pull);
        set_queue_socket(*pull_, cfg_);
        pull_->set(zmq::sockopt::rcvtimeo, int(std::chrono::milliseconds(kCancelPoll).count()));
        pull_->connect(base_ + std::string(kDeviceOut));
      } catch (const zmq::error_t& e) {
        pull_.reset();
        return Status::Sys("zmq connect (the device's output)", e.num());
      }
    }
    for (;;) {
      const int n = zmq_recv(pull_->handle(), buf.data(), buf.size(), 0);
      if (n >= 0) {
        if (std::size_t(n) > buf.size()) return Status::Corrupt("zmq_recv: a message longer than the queue's", std::uint32_t(n));
        got = std::size_t(n);
        return Status::Ok();
      }
      const int err = zmq_errno();
      if (cfg_.cancelled()) return Status::Cancelled("zmq_recv");
      if (err != EAGAIN && err != EINTR) return Status::Sys("zmq_recv", err);
    }
  }

 private:
  std::string base_;
  QueueConfig cfg_;
  zmq::context_t ctx_;  // before the sockets: destroyed after them
  std::optional<zmq::socket_t> to_device_, pull_;

  Status send_to_device(Bytes msg) noexcept {
    // zmq_send copies the bytes into a message of its own before it returns.
    for (;;) {
      if (zmq_send(to_device_->handle(), msg.data(), msg.size(), 0) >= 0) return Status::Ok();
      const int err = zmq_errno();
      if (cfg_.cancelled()) return Status::Cancelled("zmq_send");
      if (err != EAGAIN && err != EINTR) return Status::Sys("zmq_send", err);
    }
  }
};

}  // namespace

Made<SharedQueue> make_device_queue(const std::string& base, int in_fd, int out_fd, const QueueConfig& cfg,
                                    std::function<void()> on_destroy) {
  IPCM_CHECK(cfg.msg_bytes > 0);  // an empty message is a producer's finish()
  return {std::make_unique<DeviceQueue>(base, in_fd, out_fd, cfg, std::move(on_destroy)), {}};
}

Made<QueueEnd> open_device_end(const std::string& base, const QueueConfig& cfg) {
  IPCM_CHECK(cfg.msg_bytes > 0);  // an empty message is a producer's finish()
  auto end = std::make_unique<DeviceEnd>(base, cfg);
  if (std::string why = end->open(); !why.empty()) return Made<QueueEnd>::Fail(why);
  return {std::move(end), {}};
}

}  // namespace ipcm
