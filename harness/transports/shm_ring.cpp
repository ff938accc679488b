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
//
// The peer is another process that can write anything into the segment, so every shared word
// is validated where it is read, on the value already loaded (one compare, and only on the path
// that waits): the header once, when the peer attaches (the parent never reads it back: its
// rings are built from its own geometry); a slot stamp must be the awaited message's or the
// slot's previous one; the receiver's count must lie between the sender's credit and what it has
// sent. Anything else ends the link with kCorrupt naming the field and the value seen. The
// sleep flags are only ever compared with 0, so any value in them costs at most a futex wake.
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>

#include "harness/core/buffer.h"
#include "harness/core/check.h"
#include "harness/core/clock.h"
#include "harness/core/fault_hooks.h"
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
// ... and between looks at a receive's deadline: a few, so a spinning recv_until ends within
// a fraction of a microsecond of it (a clock read costs tens of ns, a spin about as much).
constexpr unsigned kSpinsPerDeadlineCheck = 4;

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

// What a wait's readiness test finds in the shared word it loaded.
enum Readiness { kNotYet, kReady, kBad };

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
      // The receiver's count only grows, and never past what was sent: it lies in
      // [credit, sent_] (mod 2^32). Outside that window a peer wrote it.
      const std::uint32_t credit = std::uint32_t(consumed_seen_);
      const std::uint32_t window = std::uint32_t(sent_ - consumed_seen_);
      std::uint32_t seen = 0;
      auto room = [&] {
        seen = out_.ctl->consumed.load(std::memory_order_acquire);
        if (std::int32_t(seen - need) >= 0) return seen - credit <= window ? kReady : kBad;
        return seen - credit <= window ? kNotYet : kBad;
      };
      if (Status st = wait_until(room, out_.ctl->consumed, out_.ctl->writer_sleeping, nullptr); !st) {
        if (st.code == Status::kCorrupt)
          return Status::Corrupt("shm_ring: the receiver's consumed count is outside [credit, sent]", seen);
        return st;
      }
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

  Status recv(Bytes& view) noexcept override { return receive(view, nullptr); }
  Status recv_until(Bytes& view, Deadline deadline) noexcept override { return receive(view, &deadline); }

 private:
  // recv() without a deadline, recv_until() with one; a timeout leaves the ring as it was.
  Status receive(Bytes& view, const Deadline* deadline) noexcept {
    release_held();
    const std::size_t slot = received_ % in_.slots;
    const std::uint32_t want = stamp_of(received_);
    // What the slot holds until the sender writes this message: the stamp of the message one
    // lap earlier, or 0 (never written) in the first lap.
    const std::uint32_t prev = received_ >= in_.slots ? stamp_of(received_ - in_.slots) : 0;
    if (in_.small) {
      // Every line's stamp is loaded on every poll, without stopping at the first that is
      // not there yet, so that all the lines are in flight together.
      // A line not there yet must still hold the slot's previous stamp: the values loaded are
      // classified only when not all lines are there, so a message that has arrived pays nothing.
      std::uint32_t bad = 0;
      auto all_there = [&] {
        bool all = true;
        std::uint32_t got[kSmallLines];
        for (std::size_t l = 0; l < small_lines_; ++l) {
          got[l] = in_.stamp(slot, l).load(std::memory_order_acquire);
          all &= got[l] == want;
        }
        if (all) return kReady;
        for (std::size_t l = 0; l < small_lines_; ++l)
          if (got[l] != want && got[l] != prev) {
            bad = got[l];
            return kBad;
          }
        return kNotYet;
      };
      if (Status st = wait_until(all_there, in_.last_stamp(slot), in_.ctl->reader_sleeping, deadline); !st)
        return st.code == Status::kCorrupt ? stamp_corrupt(bad) : st;
      for (std::size_t l = 0, off = 0; off < cfg_.msg_bytes; ++l, off += kLineData)
        std::memcpy(copy_.data() + off, in_.line(slot, l) + kStampBytes, std::min(kLineData, cfg_.msg_bytes - off));
      view = Bytes(copy_.data(), cfg_.msg_bytes);
    } else {
      Word& stamp = in_.stamp(slot);
      std::uint32_t got = 0;
      auto there = [&] {
        got = stamp.load(std::memory_order_acquire);
        if (got == want) return kReady;
        return got == prev ? kNotYet : kBad;
      };
      if (Status st = wait_until(there, stamp, in_.ctl->reader_sleeping, deadline); !st)
        return st.code == Status::kCorrupt ? stamp_corrupt(got) : st;
      view = Bytes(in_.data(slot), cfg_.msg_bytes);
    }
    held_ = true;
    ++received_;
    // A copied-out message frees its slot at once.
    if (in_.small) release_held();
    return Status::Ok();
  }

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

  static Status stamp_corrupt(std::uint32_t seen) noexcept {
    return Status::Corrupt("shm_ring: a slot stamp is neither the awaited message's nor the slot's previous one", seen);
  }

  // Waits until ready() says kReady; kBad (a shared word failed validation) ends the wait with
  // kCorrupt, which the caller words. `word` is what changes when it becomes ready, to sleep on.
  // With a deadline, the wait ends there with kTimedOut: the spin looks at the clock every few
  // spins, the futex sleeps at most until it.
  template <class Ready>
  Status wait_until(Ready&& ready, Word& word, Word& sleeping, const Deadline* deadline) noexcept {
    if (Readiness r = ready(); r != kNotYet) return r == kReady ? Status::Ok() : Status::Corrupt("shm_ring");
    if (cfg_.wait != Wait::kBlock) {
      const std::uint64_t until = cfg_.wait == Wait::kHybrid ? TickClock::now() + hybrid_spin_ticks_ : 0;
      for (unsigned i = 1;; ++i) {
        cpu_relax();
        if (Readiness r = ready(); r != kNotYet) return r == kReady ? Status::Ok() : Status::Corrupt("shm_ring");
        if (cfg_.cancelled()) return Status::Cancelled("shm_ring spin");
        if (deadline != nullptr && i % kSpinsPerDeadlineCheck == 0 && Clock::now() >= *deadline)
          return Status::TimedOut("shm_ring spin");
        if (until != 0 && i % kSpinsPerClockCheck == 0 && TickClock::now() > until) break;
      }
    }
    for (;;) {
      sleeping.fetch_add(1, std::memory_order_seq_cst);
      const std::uint32_t seen = word.load(std::memory_order_seq_cst);
      int rc = 0, err = 0;
      Readiness r = ready();
      if (r == kNotYet && deadline == nullptr) {
        rc = futex_wait(&word, seen);
        err = errno;
      } else if (r == kNotYet) {
        const auto left = *deadline - Clock::now();
        rc = left > Clock::duration::zero() ? futex_wait_for(&word, seen, left) : -1;
        err = left > Clock::duration::zero() ? errno : ETIMEDOUT;
      }
      sleeping.fetch_sub(1, std::memory_order_relaxed);
      if (r == kNotYet) r = ready();
      if (r != kNotYet) return r == kReady ? Status::Ok() : Status::Corrupt("shm_ring");
      if (cfg_.cancelled()) return Status::Cancelled("shm_ring futex wait");
      if (rc != 0 && err == ETIMEDOUT) return Status::TimedOut("shm_ring futex wait");
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

  // From a geometry this side computed or validated, never from the shared header itself.
  void bind(const Geometry& g) {
    auto* p = static_cast<std::byte*>(region.get_address());
    header = reinterpret_cast<Header*>(p);
    auto* ctl = reinterpret_cast<RingControl*>(p + sizeof(Header));
    std::byte* slots = p + sizeof(Header) + 2 * sizeof(RingControl);
    for (int d = 0; d < 2; ++d) rings[d] = Ring{ctl + d, slots + d * g.ring_bytes(), g.slots, g.stride, g.small};
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
  link->map.bind(g);
  return {std::move(link), {}};
}

class OwningRingChannel final : public Channel {
 public:
  OwningRingChannel(std::unique_ptr<Mapping> map, const ChannelConfig& cfg)
      : map_(std::move(map)), ch_(map_->rings[1], map_->rings[0], cfg) {}
  Status send(Bytes msg) noexcept override { return ch_.send(msg); }
  Status recv(Bytes& out) noexcept override { return ch_.recv(out); }
  Status recv_until(Bytes& out, Deadline deadline) noexcept override { return ch_.recv_until(out, deadline); }

 private:
  std::unique_ptr<Mapping> map_;
  RingChannel ch_;
};

// "" when the header describes exactly the ring this config makes and the mapping holds it;
// otherwise the first field that differs, with the value seen and the value expected.
std::string header_mismatch(const Header& h, const ChannelConfig& cfg, std::size_t mapped) {
  const Geometry g = geometry_for(cfg);
  auto field = [](const char* name, std::uint64_t seen, std::uint64_t want) {
    return std::string(name) + " = " + std::to_string(seen) + ", expected " + std::to_string(want);
  };
  if (h.magic != kMagic) return field("magic", h.magic, kMagic) + " (not this link's ring)";
  if (h.msg_bytes != cfg.msg_bytes) return field("msg_bytes", h.msg_bytes, cfg.msg_bytes);
  if (h.slots != g.slots) return field("slots", h.slots, g.slots);
  if (h.stride != g.stride) return field("stride", h.stride, g.stride);
  if (h.small != std::uint64_t(g.small)) return field("small", h.small, g.small);
  if (mapped < g.total()) return field("segment bytes", mapped, g.total()) + " (the rings do not fit)";
  return "";
}

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
  // One copy of the header, validated field by field against the geometry this side computes
  // from the link's config: the other process may have written anything into it.
  Header h;
  std::memcpy(&h, map->region.get_address(), sizeof h);
  if (std::string bad = header_mismatch(h, cfg, map->region.get_size()); !bad.empty())
    return Made<Channel>::Fail("shm_ring header: " + bad);
  map->bind(geometry_for(cfg));
  map->touch();
  return {std::make_unique<OwningRingChannel>(std::move(map), cfg), {}};
}

}  // namespace

std::optional<ShmRingLayout> shm_ring_layout(const Link& link) {
  const auto* r = dynamic_cast<const RingLink*>(&link);
  if (r == nullptr) return std::nullopt;
  ShmRingLayout l;
  l.segment = r->name;
  l.segment_bytes = r->map.region.get_size();
  l.magic = offsetof(Header, magic);
  l.msg_bytes = offsetof(Header, msg_bytes);
  l.slots_field = offsetof(Header, slots);
  l.stride_field = offsetof(Header, stride);
  l.small_field = offsetof(Header, small);
  const auto* base = static_cast<const std::byte*>(r->map.region.get_address());
  for (int d = 0; d < 2; ++d) {
    l.consumed[d] = std::size_t(reinterpret_cast<const std::byte*>(&r->map.rings[d].ctl->consumed) - base);
    l.ring[d] = std::size_t(r->map.rings[d].base - base);
  }
  l.slots = r->map.rings[0].slots;
  l.stride = r->map.rings[0].stride;
  l.line = kCacheLine;
  l.small = r->map.rings[0].small;
  return l;
}

extern const TransportDef kShmRingTransport{
    .name = "shm_ring",
    .kind = Kind::kShm,
    .peers = kAllPeers,
    .waits = {Wait::kSpin, Wait::kHybrid, Wait::kBlock},
    .create = create,
    .attach = attach,
};

}  // namespace ipcm
