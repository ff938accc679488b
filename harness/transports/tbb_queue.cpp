// oneTBB concurrent_bounded_queue between threads of one process: the thread-only queue
// (queue.Queue / ThreadPoolExecutor territory). The queues carry slot indices into a
// preallocated slab — a "full" queue per direction, and a "free" queue that recycles the
// slots — so no message is allocated and the sender blocks when the window is used up. One
// such pair of queues is many-to-many by nature, so fanin's threads share one.
#include <oneapi/tbb/concurrent_queue.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "harness/core/buffer.h"
#include "harness/core/limits.h"
#include "harness/launch/peer.h"
#include "harness/transports/transport.h"

namespace ipcm {
namespace {

using SlotQueue = tbb::concurrent_bounded_queue<std::uint32_t>;

struct Direction {
  SlotQueue full, free;
  AlignedBuffer slab;
  std::size_t stride = 0;

  void init(std::size_t slots, std::size_t msg_bytes) {
    stride = (msg_bytes + kCacheLine - 1) / kCacheLine * kCacheLine;
    slab = AlignedBuffer(stride * slots);
    full.set_capacity(std::ptrdiff_t(slots));
    free.set_capacity(std::ptrdiff_t(slots));
    for (std::uint32_t i = 0; i < slots; ++i) free.push(i);
  }
  std::byte* slot(std::uint32_t i) const noexcept { return slab.data() + i * stride; }
};

class TbbChannel final : public Channel {
 public:
  TbbChannel(Direction& out, Direction& in, const ChannelConfig& cfg) : out_(out), in_(in), cfg_(cfg) {}
  ~TbbChannel() override { give_back(); }
  Status send(Bytes msg) noexcept override {
    try {
      std::uint32_t i = 0;
      out_.free.pop(i);
      std::memcpy(out_.slot(i), msg.data(), msg.size());
      out_.full.push(i);
    } catch (const tbb::user_abort&) {
      return Status::Cancelled("concurrent_bounded_queue::pop");
    }
    return Status::Ok();
  }
  Status recv(Bytes& out) noexcept override {
    try {
      give_back();
      std::uint32_t i = 0;
      in_.full.pop(i);
      held_ = std::int64_t(i);
      out = Bytes(in_.slot(i), cfg_.msg_bytes);
    } catch (const tbb::user_abort&) {
      return Status::Cancelled("concurrent_bounded_queue::pop");
    }
    return Status::Ok();
  }
  // concurrent_bounded_queue has no timed pop: this looks with try_pop and yields the CPU
  // between looks (the peer is a thread of this process, which may need it), reading the
  // clock each time.
  Status recv_until(Bytes& out, Deadline deadline) noexcept override {
    try {
      give_back();
      std::uint32_t i = 0;
      while (!in_.full.try_pop(i)) {
        if (cfg_.cancelled()) return Status::Cancelled("concurrent_bounded_queue::try_pop");
        if (Clock::now() >= deadline) return Status::TimedOut("concurrent_bounded_queue::try_pop");
        std::this_thread::yield();
      }
      held_ = std::int64_t(i);
      out = Bytes(in_.slot(i), cfg_.msg_bytes);
    } catch (const tbb::user_abort&) {
      return Status::Cancelled("concurrent_bounded_queue::pop");
    }
    return Status::Ok();
  }

 private:
  // The received message is read in place; its slot goes back at the next recv.
  void give_back() {
    if (held_ >= 0) in_.free.push(std::uint32_t(held_));
    held_ = -1;
  }
  Direction& out_;
  Direction& in_;
  ChannelConfig cfg_;
  std::int64_t held_ = -1;
};

class TbbLink final : public Link {
 public:
  Direction to_peer, from_peer;
  ChannelConfig cfg;

  PeerSpec peer_spec() const override { return {}; }
  Made<Channel> open_parent() override {
    return {std::make_unique<TbbChannel>(to_peer, from_peer, cfg), {}};
  }
  std::optional<std::size_t> window_msgs() const override { return std::size_t(to_peer.full.capacity()); }
  void interrupt() noexcept override {
    for (Direction* d : {&to_peer, &from_peer}) {
      d->full.abort();
      d->free.abort();
    }
  }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<TbbLink>();
  link->cfg = cfg;
  const std::size_t slots = std::clamp(std::min(cfg.depth, kLinkBytesBudget / cfg.msg_bytes), kMinLinkSlots, kStreamWindow);
  link->to_peer.init(slots, cfg.msg_bytes);
  link->from_peer.init(slots, cfg.msg_bytes);
  return {std::move(link), {}};
}

Made<Channel> attach(const PeerSpec&, const ChannelConfig& cfg, Link* same_process) {
  if (same_process == nullptr)
    return Made<Channel>::Fail("tbb_queue lives in one address space; only a thread can attach");
  auto* link = static_cast<TbbLink*>(same_process);
  return {std::make_unique<TbbChannel>(link->from_peer, link->to_peer, cfg), {}};
}

// ---- Many-to-many: one Direction that every thread party shares ----

class TbbEnd final : public QueueEnd {
 public:
  TbbEnd(Direction& q, const QueueConfig& cfg) : q_(q), cfg_(cfg) {}
  Status put(Bytes msg) noexcept override {
    try {
      std::uint32_t i = 0;
      q_.free.pop(i);
      std::memcpy(q_.slot(i), msg.data(), msg.size());
      q_.full.push(i);
    } catch (const tbb::user_abort&) {
      return Status::Cancelled("concurrent_bounded_queue::pop");
    }
    return Status::Ok();
  }
  // Copies out rather than reading in place: the slot goes back at once, for any party to use.
  Status get(std::span<std::byte> buf, std::size_t& got) noexcept override {
    try {
      std::uint32_t i = 0;
      q_.full.pop(i);
      std::memcpy(buf.data(), q_.slot(i), cfg_.msg_bytes);
      q_.free.push(i);
      got = cfg_.msg_bytes;
    } catch (const tbb::user_abort&) {
      return Status::Cancelled("concurrent_bounded_queue::pop");
    }
    return Status::Ok();
  }

 private:
  Direction& q_;
  QueueConfig cfg_;
};

class SharedTbb final : public SharedQueue {
 public:
  Direction q;
  std::string address() const override { return ""; }
  // A thread blocked in pop() sees neither a signal nor the cancel flag; abort() wakes it.
  void interrupt() noexcept override {
    q.full.abort();
    q.free.abort();
  }
};

Made<SharedQueue> create_shared(const QueueConfig& cfg) {
  auto s = std::make_unique<SharedTbb>();
  s->q.init(cfg.depth, cfg.msg_bytes);
  return {std::move(s), {}};
}

Made<QueueEnd> open_shared(const std::string&, const QueueConfig& cfg, SharedQueue* same_process) {
  if (same_process == nullptr)
    return Made<QueueEnd>::Fail("tbb_queue lives in one address space; only a thread can open it");
  return {std::make_unique<TbbEnd>(static_cast<SharedTbb*>(same_process)->q, cfg), {}};
}

}  // namespace

extern const TransportDef kTbbQueueTransport{
    .name = "tbb_queue",
    .kind = Kind::kQueue,
    .peers = PeerSet::in_process(),
    .create = create,
    .attach = attach,
    .many_to_many = {.create = create_shared, .open = open_shared},
};

}  // namespace ipcm
