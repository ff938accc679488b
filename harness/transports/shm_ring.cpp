// A single-producer single-consumer ring per direction in a Boost.Interprocess shared-memory
// segment: the shared-memory answer (multiprocessing.shared_memory plus your own protocol).
//
// Layout, chosen so that a message costs no more cache-line traffic than its own bytes: slot
// lines are written only by the sender, and a message is published by a sequence stamp that
// travels in the same line as data. The receiver reports consumed messages through its own
// counter line, which the sender reads only when its cached copy says the ring might be full.
//  - Small messages (up to kSmallLines lines) carry a stamp in every line. The receiver polls
//    all the stamps at once, so the lines arrive in parallel rather than one miss after
//    another, then copies the message out and frees the slot at once.
//  - Larger messages have one stamp in a line of its own before cache-line aligned data; the
//    receiver reads the message in place (zero copy) and frees the slot at its next recv.
//
// Waiting: spin, hybrid (spin kHybridSpin, then futex) or block (futex at once).
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "harness/core/buffer.h"
#include "harness/core/check.h"
#include "harness/core/clock.h"
#include "harness/core/futex.h"
#include "harness/core/limits.h"
#include "harness/core/names.h"
#include "harness/launch/peer.h"
#include "harness/transports/transport.h"

namespace ipcm {
namespace {

namespace bip = boost::interprocess;

constexpr std::uint64_t kMagic = 0x69706d7472696e67ull;  // "ipmtring"
constexpr std::size_t kStampBytes = 4;
constexpr std::size_t kLineData = kCacheLine - kStampBytes;
constexpr std::size_t kSmallLines = 4;
constexpr std::size_t kSmallBytes = kSmallLines * kLineData;
// How many spins pass between looks at the clock in the hybrid wait.
constexpr unsigned kSpinsPerClockCheck = 256;

using Word = std::atomic<std::uint32_t>;
static_assert(Word::is_always_lock_free);

struct alignas(kCacheLine) Header {
  std::uint64_t magic;
  std::uint64_t msg_bytes;
  std::uint64_t slots;
  std::uint64_t stride;
  std::uint64_t small;
};

// One direction's shared counters, each alone on its line: `consumed` is written by the
// receiver after every message; the sleep flags are read by the other side after every
// message in the futex modes and written only around a sleep.
struct RingControl {
  alignas(kCacheLine) Word consumed;  // messages the receiver has finished with (mod 2^32)
  alignas(kCacheLine) Word reader_sleeping;
  alignas(kCacheLine) Word writer_sleeping;
};

struct Geometry {
  std::size_t slots, stride;
  bool small;
  std::size_t ring_bytes() const { return slots * stride; }
  std::size_t total() const { return sizeof(Header) + 2 * sizeof(RingControl) + 2 * ring_bytes(); }
};

// The ring is sized by the memory budget rather than the requested depth: a longer ring lets
// the sender go many messages without reading the receiver's counter, and costs nothing when
// the workload keeps one message in flight.
Geometry geometry_for(const ChannelConfig& cfg) {
  Geometry g;
  g.small = cfg.msg_bytes <= kSmallBytes;
  g.stride = g.small ? (cfg.msg_bytes + kLineData - 1) / kLineData * kCacheLine
                     : kCacheLine + (cfg.msg_bytes + kCacheLine - 1) / kCacheLine * kCacheLine;
  g.slots = std::clamp(kLinkBytesBudget / g.stride, kMinLinkSlots, std::max(cfg.depth, kStreamWindow));
  return g;
}

struct Ring {
  RingControl* ctl;
  std::byte* base;
  std::size_t slots, stride;
  bool small;

  std::byte* line(std::size_t slot, std::size_t l) const noexcept { return base + slot * stride + l * kCacheLine; }
  Word& stamp(std::size_t slot, std::size_t l = 0) const noexcept { return *reinterpret_cast<Word*>(line(slot, l)); }
  // Large messages: the data after the stamp's line.
  std::byte* data(std::size_t slot) const noexcept { return line(slot, 1); }
  // The stamp the sender writes last, so the one a sleeping receiver waits on: once it
  // changes, the whole message is there.
  Word& last_stamp(std::size_t slot) const noexcept { return stamp(slot, small ? stride / kCacheLine - 1 : 0); }
};

// Message m's stamp: never 0, the value of a slot that has not been written yet.
inline std::uint32_t stamp_of(std::uint64_t m) noexcept { return std::uint32_t(m + 1); }

class alignas(kCacheLine) RingChannel final : public Channel {
 public:
  RingChannel(Ring out, Ring in, const ChannelConfig& cfg)
      : out_(out),
        in_(in),
        cfg_(cfg),
        small_lines_(in.small ? in.stride / kCacheLine : 0),
        copy_(in.small ? cfg.msg_bytes : 0),
        hybrid_spin_ticks_(std::uint64_t(double(kHybridSpin.count()) / TickClock::get().ns_per_tick())) {}
  ~RingChannel() override { release_held(); }

  Status send(Bytes msg) noexcept override {
    // Room for message `sent_` once the receiver has finished with message sent_ - slots.
    if (sent_ - consumed_seen_ >= out_.slots) {
      const std::uint32_t need = std::uint32_t(sent_ - out_.slots + 1);
      // The count that let the sender in is the one it goes on with: one acquire load, so
      // every slot it frees is ordered after the receiver's last reads of it. (A second,
      // relaxed load here could see a later count than the one acquired: a data race
      // ThreadSanitizer reported on thread peers.)
      std::uint32_t seen = 0;
      auto room = [&] {
        seen = out_.ctl->consumed.load(std::memory_order_acquire);
        return std::int32_t(seen - need) >= 0;
      };
      if (Status st = wait_until(room, out_.ctl->consumed, out_.ctl->writer_sleeping); !st) return st;
      consumed_seen_ = sent_ - out_.slots + 1 + (seen - need);
    }
    const std::size_t slot = sent_ % out_.slots;
    const std::uint32_t stamp = stamp_of(sent_);
    if (out_.small) {
      for (std::size_t l = 0, off = 0; off < msg.size(); ++l, off += kLineData) {
        std::memcpy(out_.line(slot, l) + kStampBytes, msg.data() + off, std::min(kLineData, msg.size() - off));
        out_.stamp(slot, l).store(stamp, std::memory_order_release);
      }
    } else {
      std::memcpy(out_.data(slot), msg.data(), msg.size());
      out_.stamp(slot).store(stamp, std::memory_order_release);
    }
    wake_if_sleeping(out_.last_stamp(slot), out_.ctl->reader_sleeping);
    ++sent_;
    return Status::Ok();
  }

  Status recv(Bytes& view) noexcept override {
    release_held();
    const std::size_t slot = received_ % in_.slots;
    const std::uint32_t want = stamp_of(received_);
    if (in_.small) {
      // Every line's stamp is loaded on every poll, without stopping at the first that is
      // not there yet, so that all the lines are in flight together.
      auto all_there = [&] {
        bool all = true;
        for (std::size_t l = 0; l < small_lines_; ++l) all &= in_.stamp(slot, l).load(std::memory_order_acquire) == want;
        return all;
      };
      if (Status st = wait_until(all_there, in_.last_stamp(slot), in_.ctl->reader_sleeping); !st) return st;
      for (std::size_t l = 0, off = 0; off < cfg_.msg_bytes; ++l, off += kLineData)
        std::memcpy(copy_.data() + off, in_.line(slot, l) + kStampBytes, std::min(kLineData, cfg_.msg_bytes - off));
      view = Bytes(copy_.data(), cfg_.msg_bytes);
    } else {
      Word& stamp = in_.stamp(slot);
      if (Status st = wait_until([&] { return stamp.load(std::memory_order_acquire) == want; }, stamp,
                                 in_.ctl->reader_sleeping);
          !st)
        return st;
      view = Bytes(in_.data(slot), cfg_.msg_bytes);
    }
    held_ = true;
    ++received_;
    // A copied-out message frees its slot at once.
    if (in_.small) release_held();
    return Status::Ok();
  }

 private:
  void release_held() noexcept {
    if (!held_) return;
    in_.ctl->consumed.store(std::uint32_t(received_), std::memory_order_release);
    wake_if_sleeping(in_.ctl->consumed, in_.ctl->writer_sleeping);
    held_ = false;
  }

  void wake_if_sleeping(Word& word, Word& sleeping) noexcept {
    if (cfg_.wait == Wait::kSpin) return;
    // Pairs with the sleeper's seq_cst increment: either it sees the new value, or we see it asleep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping.load(std::memory_order_relaxed) != 0) futex_wake(&word);
  }

  // Waits until ready(); `word` is what changes when it becomes ready, to sleep on.
  template <class Ready>
  Status wait_until(Ready&& ready, Word& word, Word& sleeping) noexcept {
    if (ready()) return Status::Ok();
    if (cfg_.wait != Wait::kBlock) {
      const std::uint64_t until = cfg_.wait == Wait::kHybrid ? TickClock::now() + hybrid_spin_ticks_ : 0;
      for (unsigned i = 1;; ++i) {
        cpu_relax();
        if (ready()) return Status::Ok();
        if (cfg_.cancelled()) return Status::Cancelled("shm_ring spin");
        if (until != 0 && i % kSpinsPerClockCheck == 0 && TickClock::now() > until) break;
      }
    }
    for (;;) {
      sleeping.fetch_add(1, std::memory_order_seq_cst);
      const std::uint32_t seen = word.load(std::memory_order_seq_cst);
      int rc = 0, err = 0;
      if (!ready()) {
        rc = futex_wait(&word, seen);
        err = errno;
      }
      sleeping.fetch_sub(1, std::memory_order_relaxed);
      if (ready()) return Status::Ok();
      if (cfg_.cancelled()) return Status::Cancelled("shm_ring futex wait");
      if (rc != 0 && err != EAGAIN && err != EINTR) return Status::Sys("futex wait", err);
    }
  }

  Ring out_, in_;
  ChannelConfig cfg_;
  std::size_t small_lines_;
  AlignedBuffer copy_;  // where a small message is assembled from its lines
  std::uint64_t hybrid_spin_ticks_;
  std::uint64_t sent_ = 0, received_ = 0;
  std::uint64_t consumed_seen_ = 0;  // the receiver's count as last read: the sender's credit
  bool held_ = false;
};

// A mapping of the segment and the two rings in it; direction 0 goes parent -> peer.
struct Mapping {
  bip::mapped_region region;
  Header* header = nullptr;
  Ring rings[2]{};

  void bind() {
    auto* p = static_cast<std::byte*>(region.get_address());
    header = reinterpret_cast<Header*>(p);
    auto* ctl = reinterpret_cast<RingControl*>(p + sizeof(Header));
    std::byte* slots = p + sizeof(Header) + 2 * sizeof(RingControl);
    for (int d = 0; d < 2; ++d)
      rings[d] = Ring{ctl + d, slots + d * header->slots * header->stride, header->slots, header->stride,
                      header->small != 0};
  }
  // Fault every page in now, outside any timed loop.
  void touch() {
    auto* p = static_cast<volatile std::byte*>(region.get_address());
    const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
    for (std::size_t i = 0; i < region.get_size(); i += page) (void)p[i];
  }
};

class RingLink final : public Link {
 public:
  std::string name;
  Mapping map;
  ChannelConfig cfg;
  std::size_t slots = 0;

  ~RingLink() override {
    if (!name.empty()) {
      bip::shared_memory_object::remove(name.c_str());
      forget_object(NameSpace::kShm, name);
    }
  }
  PeerSpec peer_spec() const override { return {{"shm:" + name}, {}}; }
  Made<Channel> open_parent() override {
    return {std::make_unique<RingChannel>(map.rings[0], map.rings[1], cfg), {}};
  }
  std::optional<std::size_t> window_msgs() const override { return slots; }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<RingLink>();
  link->cfg = cfg;
  const Geometry g = geometry_for(cfg);
  try {
    link->name = unique_name("ring");
    bip::shared_memory_object shm(bip::create_only, link->name.c_str(), bip::read_write, bip::permissions(0600));
    record_object(NameSpace::kShm, link->name);
    shm.truncate(bip::offset_t(g.total()));
    link->map.region = bip::mapped_region(shm, bip::read_write);
  } catch (const bip::interprocess_exception& e) {
    return Made<Link>::Fail(std::string("shared memory segment of ") + std::to_string(g.total()) + " bytes: " + e.what());
  }
  // Zero is every stamp unwritten and every counter at its start; writing it faults the pages in.
  std::memset(link->map.region.get_address(), 0, g.total());
  auto* h = static_cast<Header*>(link->map.region.get_address());
  *h = Header{kMagic, cfg.msg_bytes, g.slots, g.stride, g.small};
  link->slots = g.slots;
  link->map.bind();
  return {std::move(link), {}};
}

class OwningRingChannel final : public Channel {
 public:
  OwningRingChannel(std::unique_ptr<Mapping> map, const ChannelConfig& cfg)
      : map_(std::move(map)), ch_(map_->rings[1], map_->rings[0], cfg) {}
  Status send(Bytes msg) noexcept override { return ch_.send(msg); }
  Status recv(Bytes& out) noexcept override { return ch_.recv(out); }

 private:
  std::unique_ptr<Mapping> map_;
  RingChannel ch_;
};

Made<Channel> attach(const PeerSpec& spec, const ChannelConfig& cfg, Link* same_process) {
  if (same_process != nullptr) {
    auto* link = static_cast<RingLink*>(same_process);
    return {std::make_unique<RingChannel>(link->map.rings[1], link->map.rings[0], cfg), {}};
  }
  if (spec.args.size() != 1 || spec.args[0].rfind("shm:", 0) != 0)
    return Made<Channel>::Fail("peer spec does not name the segment");
  auto map = std::make_unique<Mapping>();
  try {
    bip::shared_memory_object shm(bip::open_only, spec.args[0].substr(4).c_str(), bip::read_write);
    map->region = bip::mapped_region(shm, bip::read_write);
  } catch (const bip::interprocess_exception& e) {
    return Made<Channel>::Fail(std::string("open shared memory: ") + e.what());
  }
  if (map->region.get_size() < sizeof(Header)) return Made<Channel>::Fail("shared memory segment too small");
  const auto* h = static_cast<const Header*>(map->region.get_address());
  if (h->magic != kMagic || h->msg_bytes != cfg.msg_bytes)
    return Made<Channel>::Fail("shared memory segment is not this link's ring");
  map->bind();
  map->touch();
  return {std::make_unique<OwningRingChannel>(std::move(map), cfg), {}};
}

}  // namespace

extern const TransportDef kShmRingTransport{
    .name = "shm_ring",
    .kind = Kind::kShm,
    .peers = kAllPeers,
    .waits = {Wait::kSpin, Wait::kHybrid, Wait::kBlock},
    .create = create,
    .attach = attach,
};

}  // namespace ipcm
