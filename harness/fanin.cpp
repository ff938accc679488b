#include "harness/fanin.h"

#include <fcntl.h>
#include <mqueue.h>

#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/permissions.hpp>
#include <cstring>
#include <fstream>
#include <memory>
#include <oneapi/tbb/concurrent_queue.h>
#include <vector>

#include "harness/buffer.h"
#include "harness/check.h"
#include "harness/clock.h"
#include "harness/futex.h"
#include "harness/message.h"
#include "harness/names.h"
#include "harness/party.h"

namespace ipcm {
namespace {

namespace bip = boost::interprocess;
using namespace std::chrono_literals;

// Blocking queue calls wait in slices this long and look at the cancel flag between them, so
// a failed group never leaves a party waiting for a message that will not come.
constexpr auto kCancelPoll = 100ms;
constexpr std::size_t kQueueNameBytes = 96;
constexpr const char* kMsgMaxPath = "/proc/sys/fs/mqueue/msg_max";

enum class QueueKind : int { kBip, kPosix, kTbb };
enum class FaninKind : std::uint32_t { kData = 0, kStop = 1 };

struct FaninHeader {
  std::uint32_t producer;
  FaninKind kind;
  std::uint64_t seq;
  std::uint64_t check;
};
static_assert(sizeof(FaninHeader) == kFaninHeaderBytes);

std::uint64_t seal(std::uint64_t payload, std::uint32_t producer, std::uint64_t seq) noexcept {
  return std::uint64_t(fold_checksum(payload, std::uint32_t(seq) ^ (producer << kSeqBits))) ^ (seq << 32);
}

struct Tally {  // one consumer's view of one producer
  std::uint64_t count, sum, sumsq;
};

struct FaninShared {
  QueueKind queue;
  int producers, consumers;
  std::size_t size;
  std::uint64_t messages;
  char qname[kQueueNameBytes];
  void* tbb;  // the TbbMpmc, for thread parties
  alignas(kCacheLine) std::atomic<std::uint64_t> processed;  // task_done() calls
  alignas(kCacheLine) std::atomic<std::uint32_t> joined;
  std::uint64_t joined_tick;
  alignas(kCacheLine) Tally tally[kMaxParties][kMaxParties];  // [consumer][producer]
};

// ---- MPMC access to each queue kind ----

class Mpmc {
 public:
  virtual ~Mpmc() = default;
  // Blocking put/get that give up (false) when `cancel` is set; error() says why otherwise.
  virtual bool put(const std::byte* p, std::size_t n) = 0;
  virtual bool get(std::byte* buf, std::size_t cap, std::size_t& got) = 0;
  std::string error;
  const std::atomic<std::uint32_t>* cancel = nullptr;
  bool cancelled() const noexcept { return cancel->load(std::memory_order_relaxed) != 0; }
};

class BipMpmc final : public Mpmc {
 public:
  explicit BipMpmc(std::unique_ptr<bip::message_queue> q) : q_(std::move(q)) {}
  bool put(const std::byte* p, std::size_t n) override {
    try {
      while (!q_->timed_send(p, n, 0, deadline()))
        if (cancelled()) return fail("cancelled");
    } catch (const bip::interprocess_exception& e) {
      return fail(std::string("message_queue::send: ") + e.what());
    }
    return true;
  }
  bool get(std::byte* buf, std::size_t cap, std::size_t& got) override {
    try {
      bip::message_queue::size_type g = 0;
      unsigned prio = 0;
      while (!q_->timed_receive(buf, cap, g, prio, deadline()))
        if (cancelled()) return fail("cancelled");
      got = g;
    } catch (const bip::interprocess_exception& e) {
      return fail(std::string("message_queue::receive: ") + e.what());
    }
    return true;
  }

 private:
  static boost::posix_time::ptime deadline() {
    return boost::posix_time::microsec_clock::universal_time() +
           boost::posix_time::milliseconds(std::chrono::milliseconds(kCancelPoll).count());
  }
  bool fail(std::string why) {
    error = std::move(why);
    return false;
  }
  std::unique_ptr<bip::message_queue> q_;
};

timespec realtime_deadline() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += long(std::chrono::nanoseconds(kCancelPoll).count());
  ts.tv_sec += ts.tv_nsec / 1'000'000'000;
  ts.tv_nsec %= 1'000'000'000;
  return ts;
}

class PosixMpmc final : public Mpmc {
 public:
  explicit PosixMpmc(mqd_t q) : q_(q) {}
  ~PosixMpmc() override { mq_close(q_); }
  bool put(const std::byte* p, std::size_t n) override {
    for (;;) {
      const timespec ts = realtime_deadline();
      if (mq_timedsend(q_, reinterpret_cast<const char*>(p), n, 0, &ts) == 0) return true;
      if (errno != ETIMEDOUT && errno != EINTR) return fail(sys_error("mq_timedsend"));
      if (cancelled()) return fail("cancelled");
    }
  }
  bool get(std::byte* buf, std::size_t cap, std::size_t& got) override {
    for (;;) {
      const timespec ts = realtime_deadline();
      const ssize_t n = mq_timedreceive(q_, reinterpret_cast<char*>(buf), cap, nullptr, &ts);
      if (n >= 0) {
        got = std::size_t(n);
        return true;
      }
      if (errno != ETIMEDOUT && errno != EINTR) return fail(sys_error("mq_timedreceive"));
      if (cancelled()) return fail("cancelled");
    }
  }

 private:
  bool fail(std::string why) {
    error = std::move(why);
    return false;
  }
  mqd_t q_;
};

// The tbb queue: slot indices travel, the bytes sit in a slab allocated once.
struct TbbQueue {
  using SlotQueue = tbb::concurrent_bounded_queue<std::uint32_t>;
  SlotQueue full, free;
  AlignedBuffer slab;
  std::size_t stride = 0, size = 0;
  TbbQueue(std::size_t slots, std::size_t msg_bytes)
      : slab((msg_bytes + kCacheLine - 1) / kCacheLine * kCacheLine * slots),
        stride((msg_bytes + kCacheLine - 1) / kCacheLine * kCacheLine),
        size(msg_bytes) {
    full.set_capacity(std::ptrdiff_t(slots));
    free.set_capacity(std::ptrdiff_t(slots));
    for (std::uint32_t i = 0; i < slots; ++i) free.push(i);
  }
  void abort() {
    full.abort();
    free.abort();
  }
};

class TbbMpmc final : public Mpmc {
 public:
  explicit TbbMpmc(TbbQueue& q) : q_(q) {}
  bool put(const std::byte* p, std::size_t n) override {
    try {
      std::uint32_t i = 0;
      q_.free.pop(i);
      std::memcpy(q_.slab.data() + i * q_.stride, p, n);
      q_.full.push(i);
    } catch (const tbb::user_abort&) {
      error = "cancelled";
      return false;
    }
    return true;
  }
  bool get(std::byte* buf, std::size_t, std::size_t& got) override {
    try {
      std::uint32_t i = 0;
      q_.full.pop(i);
      std::memcpy(buf, q_.slab.data() + i * q_.stride, q_.size);
      q_.free.push(i);
      got = q_.size;
    } catch (const tbb::user_abort&) {
      error = "cancelled";
      return false;
    }
    return true;
  }

 private:
  TbbQueue& q_;
};

std::unique_ptr<Mpmc> open_queue(FaninShared& s, std::string& why) {
  switch (s.queue) {
    case QueueKind::kBip:
      try {
        return std::make_unique<BipMpmc>(std::make_unique<bip::message_queue>(bip::open_only, s.qname));
      } catch (const bip::interprocess_exception& e) {
        why = std::string("message_queue open ") + s.qname + ": " + e.what();
        return nullptr;
      }
    case QueueKind::kPosix: {
      const mqd_t q = mq_open(s.qname, O_RDWR | O_CLOEXEC);
      if (q == mqd_t(-1)) {
        why = sys_error(std::string("mq_open ") + s.qname);
        return nullptr;
      }
      return std::make_unique<PosixMpmc>(q);
    }
    case QueueKind::kTbb: return std::make_unique<TbbMpmc>(*static_cast<TbbQueue*>(s.tbb));
  }
  return nullptr;
}

// A producer's payload: a pattern of its own, hashed once.
void fill_payload(std::byte* p, std::size_t n, int producer) {
  for (std::size_t i = 0; i < n; ++i) p[i] = std::byte((i * 31 + std::size_t(producer) * 7 + 1) & 0xff);
}

int producer(PartyContext& ctx, FaninShared& s, Mpmc& q) {
  const int me = ctx.index;
  AlignedBuffer msg(s.size);
  fill_payload(msg.data() + kFaninHeaderBytes, s.size - kFaninHeaderBytes, me);
  const std::uint64_t ph = payload_hash(msg.data() + kFaninHeaderBytes, s.size - kFaninHeaderBytes);
  const std::uint64_t n = s.messages / std::uint64_t(s.producers) + (std::uint64_t(me) < s.messages % std::uint64_t(s.producers) ? 1 : 0);
  if (!ctx.arrive_and_wait_start()) return ctx.fail("cancelled before the start");
  for (std::uint64_t seq = 0; seq < n; ++seq) {
    const FaninHeader h{std::uint32_t(me), FaninKind::kData, seq, seal(ph, std::uint32_t(me), seq)};
    std::memcpy(msg.data(), &h, sizeof h);
    if (!q.put(msg.data(), s.size)) return ctx.fail("producer put: " + q.error);
  }
  ctx.mark_finished();
  return kPeerOk;
}

int consumer(PartyContext& ctx, FaninShared& s, Mpmc& q) {
  const int me = ctx.index - s.producers;
  AlignedBuffer buf(s.size);
  std::vector<Tally> tally(std::size_t(s.producers), Tally{0, 0, 0});
  std::vector<std::int64_t> last(std::size_t(s.producers), -1);
  if (!ctx.arrive_and_wait_start()) return ctx.fail("cancelled before the start");
  for (;;) {
    std::size_t got = 0;
    if (!q.get(buf.data(), s.size, got)) return ctx.fail("consumer get: " + q.error);
    if (got != s.size) return ctx.fail("a message of the wrong length arrived");
    FaninHeader h;
    std::memcpy(&h, buf.data(), sizeof h);
    if (h.kind == FaninKind::kStop) break;
    if (h.kind != FaninKind::kData || h.producer >= std::uint32_t(s.producers)) return ctx.fail("a message with a bad header arrived");
    const std::uint64_t ph = payload_hash(buf.data() + kFaninHeaderBytes, s.size - kFaninHeaderBytes);
    if (seal(ph, h.producer, h.seq) != h.check) return ctx.fail("a message failed its checksum (corrupted)");
    // One producer's messages go into a FIFO in order, so any one consumer sees them rising.
    if (std::int64_t(h.seq) <= last[h.producer])
      return ctx.fail("producer " + std::to_string(h.producer) + "'s message " + std::to_string(h.seq) +
                      " arrived after " + std::to_string(last[h.producer]) + " (duplicated or reordered)");
    last[h.producer] = std::int64_t(h.seq);
    Tally& t = tally[h.producer];
    ++t.count;
    t.sum += h.seq;
    t.sumsq += h.seq * h.seq;
    // task_done(): the one that completes the last task stamps the join.
    if (s.processed.fetch_add(1, std::memory_order_acq_rel) + 1 == s.messages) {
      s.joined_tick = TickClock::now();
      s.joined.store(1, std::memory_order_release);
    }
  }
  for (int p = 0; p < s.producers; ++p) s.tally[me][p] = tally[std::size_t(p)];
  ctx.mark_finished();
  return kPeerOk;
}

std::optional<std::size_t> read_limit(const char* path) {
  std::ifstream f(path);
  std::size_t v = 0;
  if (f >> v) return v;
  return std::nullopt;
}

// The queue objects, owned by the parent; every exit path removes them.
struct OwnedQueue {
  QueueKind kind{};
  std::string name;
  std::unique_ptr<bip::message_queue> bipq;
  mqd_t mq = mqd_t(-1);
  std::unique_ptr<TbbQueue> tbbq;
  ~OwnedQueue() {
    if (bipq) {
      bipq.reset();
      bip::message_queue::remove(name.c_str());
      forget_object(NameSpace::kShm, name);
    }
    if (mq != mqd_t(-1)) {
      mq_close(mq);
      mq_unlink(name.c_str());
      forget_object(NameSpace::kMq, name);
    }
  }
  std::string create(std::size_t size) {
    switch (kind) {
      case QueueKind::kBip:
        name = unique_name("fanin-bipmq");
        try {
          bipq = std::make_unique<bip::message_queue>(bip::create_only, name.c_str(), kFaninDepth, size,
                                                      bip::permissions(0600));
        } catch (const bip::interprocess_exception& e) {
          return std::string("boost message_queue: ") + e.what();
        }
        record_object(NameSpace::kShm, name);
        return "";
      case QueueKind::kPosix: {
        name = "/" + unique_name("fanin-mq");
        long depth = long(kFaninDepth);
        for (;;) {
          mq_attr attr{};
          attr.mq_maxmsg = depth;
          attr.mq_msgsize = long(size);
          mq = mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &attr);
          if (mq != mqd_t(-1)) break;
          // Unprivileged callers get at most msg_max slots.
          const auto msg_max = read_limit(kMsgMaxPath);
          if (errno == EINVAL && msg_max && depth > long(*msg_max)) {
            depth = long(*msg_max);
            continue;
          }
          return sys_error("mq_open " + name);
        }
        record_object(NameSpace::kMq, name);
        return "";
      }
      case QueueKind::kTbb:
        tbbq = std::make_unique<TbbQueue>(kFaninDepth, size);
        return "";
    }
    return "unknown queue";
  }
};

std::optional<QueueKind> queue_kind_of(const TransportDef& t) {
  if (t.name == "bip_mq") return QueueKind::kBip;
  if (t.name == "posix_mq") return QueueKind::kPosix;
  if (t.name == "tbb_queue") return QueueKind::kTbb;
  return std::nullopt;
}

// n*(n-1)/2 and (n-1)n(2n-1)/6, modulo 2^64 as the consumers' sums are.
std::uint64_t sum_below(std::uint64_t n) { return std::uint64_t((unsigned __int128)n * (n - 1) / 2); }
std::uint64_t sumsq_below(std::uint64_t n) {
  if (n == 0) return 0;
  return std::uint64_t((unsigned __int128)(n - 1) * n * (2 * n - 1) / 6);
}

}  // namespace

int fanin_party(PartyContext& ctx) {
  auto& s = *reinterpret_cast<FaninShared*>(ctx.payload);
  std::string why;
  std::unique_ptr<Mpmc> q = open_queue(s, why);
  if (!q) return ctx.fail(why);
  q->cancel = &ctx.header->cancel;
  return ctx.index < s.producers ? producer(ctx, s, *q) : consumer(ctx, s, *q);
}

bool fanin_transport(const TransportDef& t) { return t.kind == Kind::kQueue; }

std::string fanin_refusal(const TransportDef& t, PeerKind peer, std::size_t size) {
  if (!queue_kind_of(t)) return "fanin has no many-to-many access to " + std::string(t.name) + " yet";
  if (!t.crosses_processes && peer != PeerKind::kThread)
    return std::string(t.name) + " connects threads of one process only; it cannot reach a " + peer_name(peer) + " peer";
  if (auto limit = t.max_msg_bytes(); limit && size > *limit)
    return "message size " + std::to_string(size) + " exceeds " + std::string(t.name) + "'s limit of " +
           std::to_string(*limit) + " bytes on this system" + (t.limit_note.empty() ? "" : " (" + std::string(t.limit_note) + ")");
  return "";
}

FaninResult run_fanin(const FaninPlan& plan) {
  FaninResult res;
  IPCM_CHECK(plan.size >= kFaninHeaderBytes && plan.messages > 0);
  IPCM_CHECK(plan.producers >= 1 && plan.consumers >= 1 && plan.producers + plan.consumers <= kMaxParties);
  if (std::string r = fanin_refusal(*plan.transport, plan.peer, plan.size); !r.empty()) {
    res.error = r;
    return res;
  }
  OwnedQueue owned;
  owned.kind = *queue_kind_of(*plan.transport);
  if (std::string e = owned.create(plan.size); !e.empty()) {
    res.error = e;
    return res;
  }
  Made<ShmSegment> region = ShmSegment::create(kGroupPayloadOffset + sizeof(FaninShared), "fanin");
  if (!region) {
    res.error = region.error;
    return res;
  }
  auto* s = new (region.value->data() + kGroupPayloadOffset) FaninShared();
  s->queue = owned.kind;
  s->producers = plan.producers;
  s->consumers = plan.consumers;
  s->size = plan.size;
  s->messages = plan.messages;
  IPCM_CHECK(owned.name.size() < kQueueNameBytes);
  std::memcpy(s->qname, owned.name.c_str(), owned.name.size() + 1);
  s->tbb = owned.tbbq.get();

  const int parties = plan.producers + plan.consumers;
  Made<PartyGroup> g = PartyGroup::start(plan.peer, "fanin", *region.value, parties);
  if (!g) {
    res.error = g.error;
    return res;
  }
  PartyGroup& group = *g.value;
  if (owned.tbbq) group.set_on_cancel([q = owned.tbbq.get()] { q->abort(); });
  std::string err = group.wait_ready();
  if (err.empty()) {
    group.open_gate();
    if (plan.on_running) plan.on_running(group.pids());
    // join(): every message has been through task_done().
    err = group.wait_for([s] { return s->joined.load(std::memory_order_acquire) != 0; });
  }
  if (err.empty()) {
    // Then one stop per consumer, through the same queue.
    std::string why;
    std::unique_ptr<Mpmc> q = open_queue(*s, why);
    if (!q) {
      err = why;
    } else {
      q->cancel = &group.header().cancel;
      AlignedBuffer stop(plan.size);
      const FaninHeader h{0, FaninKind::kStop, 0, 0};
      std::memcpy(stop.data(), &h, sizeof h);
      for (int c = 0; c < plan.consumers && err.empty(); ++c)
        if (!q->put(stop.data(), plan.size)) err = "stop: " + q->error;
      if (err.empty()) err = group.wait_done();
    }
  }
  if (!err.empty()) {
    res.error = err;
    return res;
  }
  // Reconcile: every producer's seqs 0..n-1 arrived exactly once over all consumers.
  for (int p = 0; p < plan.producers && res.error.empty(); ++p) {
    const std::uint64_t n = plan.messages / std::uint64_t(plan.producers) +
                            (std::uint64_t(p) < plan.messages % std::uint64_t(plan.producers) ? 1 : 0);
    Tally t{0, 0, 0};
    for (int c = 0; c < plan.consumers; ++c) {
      t.count += s->tally[c][p].count;
      t.sum += s->tally[c][p].sum;
      t.sumsq += s->tally[c][p].sumsq;
    }
    if (t.count != n || t.sum != sum_below(n) || t.sumsq != sumsq_below(n))
      res.error = "producer " + std::to_string(p) + ": " + std::to_string(t.count) + " of its " + std::to_string(n) +
                  " messages were delivered (or some twice and others never)";
  }
  if (res.error.empty() && s->processed.load() != plan.messages)
    res.error = "task_done() was called " + std::to_string(s->processed.load()) + " times for " +
                std::to_string(plan.messages) + " messages";
  if (!res.error.empty()) return res;
  res.messages = plan.messages;
  res.seconds = TickClock::get().to_ns(s->joined_tick - group.header().start_tick) * 1e-9;
  res.cpu_ns = group.cpu_ns();
  return res;
}

}  // namespace ipcm
