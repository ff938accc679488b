#include "bench/fanin/fanin.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "harness/core/buffer.h"
#include "harness/core/check.h"
#include "harness/core/clock.h"
#include "harness/core/message.h"
#include "harness/launch/party.h"

namespace ipcm {
namespace {

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
  char transport[32];  // its name in the registry
  int producers, consumers;
  std::size_t size;
  std::uint64_t messages;
  char address[kQueueAddressBytes];  // the queue's, from its transport
  // The parent's queue object, for parties in the parent's process (threads) only: a party
  // whose pid differs is another process and opens the queue by its address.
  pid_t owner_pid;
  SharedQueue* owner;
  alignas(kCacheLine) std::atomic<std::uint64_t> processed;  // task_done() calls
  alignas(kCacheLine) std::atomic<std::uint32_t> joined;
  std::uint64_t joined_tick;
  alignas(kCacheLine) std::atomic<std::uint32_t> stopped;  // consumers that took a stop
  alignas(kCacheLine) Tally tally[kMaxParties][kMaxParties];  // [consumer][producer]
};

// A party reads the plan from memory other processes can write: check it before indexing
// with it.
bool plausible(const FaninShared& s) {
  return s.producers >= 1 && s.consumers >= 1 && s.producers + s.consumers <= kMaxParties &&
         s.size >= kFaninHeaderBytes && s.messages > 0 &&
         std::memchr(s.transport, 0, sizeof s.transport) != nullptr && std::memchr(s.address, 0, sizeof s.address) != nullptr;
}

// The sentence for a failed put or get.
std::string explain(const Status& st) { return st.code == Status::kCancelled ? "cancelled" : st.describe(); }

Made<QueueEnd> open_end(const TransportDef& t, const FaninShared& s, const std::atomic<std::uint32_t>& cancel) {
  const QueueConfig cfg{.msg_bytes = s.size, .depth = kFaninDepth, .cancel = &cancel};
  return t.many_to_many.open(s.address, cfg, s.owner_pid == getpid() ? s.owner : nullptr);
}

// A producer's payload: a pattern of its own, hashed once.
void fill_payload(std::byte* p, std::size_t n, int producer) {
  for (std::size_t i = 0; i < n; ++i) p[i] = std::byte((i * 31 + std::size_t(producer) * 7 + 1) & 0xff);
}

int producer(PartyContext& ctx, FaninShared& s, QueueEnd& q) {
  const int me = ctx.index;
  AlignedBuffer msg(s.size);
  fill_payload(msg.data() + kFaninHeaderBytes, s.size - kFaninHeaderBytes, me);
  const std::uint64_t ph = payload_hash(msg.data() + kFaninHeaderBytes, s.size - kFaninHeaderBytes);
  const std::uint64_t n = s.messages / std::uint64_t(s.producers) + (std::uint64_t(me) < s.messages % std::uint64_t(s.producers) ? 1 : 0);
  if (!ctx.arrive_and_wait_start()) return ctx.fail("cancelled before the start");
  for (std::uint64_t seq = 0; seq < n; ++seq) {
    const FaninHeader h{std::uint32_t(me), FaninKind::kData, seq, seal(ph, std::uint32_t(me), seq)};
    std::memcpy(msg.data(), &h, sizeof h);
    if (const Status st = q.put(Bytes(msg.data(), s.size)); !st) return ctx.fail("producer put: " + explain(st));
  }
  if (const Status st = q.finish(); !st) return ctx.fail("producer finish: " + explain(st));
  ctx.mark_finished();
  return kPeerOk;
}

int consumer(PartyContext& ctx, FaninShared& s, QueueEnd& q) {
  const int me = ctx.index - s.producers;
  AlignedBuffer buf(s.size);
  std::vector<Tally> tally(std::size_t(s.producers), Tally{0, 0, 0});
  std::vector<std::int64_t> last(std::size_t(s.producers), -1);
  if (!ctx.arrive_and_wait_start()) return ctx.fail("cancelled before the start");
  for (;;) {
    std::size_t got = 0;
    if (const Status st = q.get(std::span(buf.data(), s.size), got); !st) return ctx.fail("consumer get: " + explain(st));
    if (got != s.size) return ctx.fail("a message of the wrong length arrived");
    FaninHeader h;
    std::memcpy(&h, buf.data(), sizeof h);
    if (h.kind == FaninKind::kStop) {
      s.stopped.fetch_add(1, std::memory_order_acq_rel);
      break;
    }
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

// n*(n-1)/2 and (n-1)n(2n-1)/6, modulo 2^64 as the consumers' sums are.
std::uint64_t sum_below(std::uint64_t n) { return std::uint64_t((unsigned __int128)n * (n - 1) / 2); }
std::uint64_t sumsq_below(std::uint64_t n) {
  if (n == 0) return 0;
  return std::uint64_t((unsigned __int128)(n - 1) * n * (2 * n - 1) / 6);
}

// Every producer's seqs 0..n-1 arrived exactly once over all consumers: "" or what did not.
std::string reconcile(const FaninPlan& plan, const FaninShared& s) {
  std::string why;
  for (int p = 0; p < plan.producers && why.empty(); ++p) {
    const std::uint64_t n = plan.messages / std::uint64_t(plan.producers) +
                            (std::uint64_t(p) < plan.messages % std::uint64_t(plan.producers) ? 1 : 0);
    Tally t{0, 0, 0};
    for (int c = 0; c < plan.consumers; ++c) {
      t.count += s.tally[c][p].count;
      t.sum += s.tally[c][p].sum;
      t.sumsq += s.tally[c][p].sumsq;
    }
    if (t.count != n || t.sum != sum_below(n) || t.sumsq != sumsq_below(n))
      why = "producer " + std::to_string(p) + ": " + std::to_string(t.count) + " of its " + std::to_string(n) +
            " messages were delivered (or some twice and others never)";
  }
  if (why.empty() && s.processed.load() != plan.messages)
    why = "task_done() was called " + std::to_string(s.processed.load()) + " times for " +
          std::to_string(plan.messages) + " messages";
  return why;
}

}  // namespace

int fanin_party(PartyContext& ctx) {
  auto& s = *reinterpret_cast<FaninShared*>(ctx.payload);
  if (!plausible(s)) return ctx.fail("the group's shared plan is corrupt");
  const TransportDef* t = find_transport(s.transport);
  if (t == nullptr || !t->many_to_many) return ctx.fail("the group's shared plan names no many-to-many transport");
  Made<QueueEnd> q = open_end(*t, s, ctx.header->cancel);
  if (!q) return ctx.fail(q.error);
  return ctx.index < s.producers ? producer(ctx, s, *q.value) : consumer(ctx, s, *q.value);
}

bool fanin_transport(const TransportDef& t) { return t.kind == Kind::kQueue; }

std::string fanin_refusal(const TransportDef& t, PeerKind peer, std::size_t size) {
  if (!t.many_to_many) {
    const std::string_view why = t.many_to_many.why_not;
    return "fanin has no many-to-many access to " + std::string(t.name) + (why.empty() ? " yet" : ": " + std::string(why));
  }
  return t.refusal(peer, size);
}

// One stop per consumer, through the same queue, then more for the consumers still running.
// A queue that deals each message to the next of its readers' own queues that has room
// (ZeroMQ's PUSH, behind the device) can hand two stops to one consumer when another's
// queue looks full for a moment: the second then lies unread behind a consumer that has
// stopped, and the last consumer waits for ever (FaninExactlyOnce, zmq_ipc spawn 1p3c, 2 of
// 68 runs on 2026-12-04). Stops a consumer never takes are dropped with the queue. The rounds
// are bounded so that a hung consumer ends in wait_done's timeout, not in a put that waits
// for room.
std::string send_stops(const FaninPlan& plan, const FaninShared& s, QueueEnd& q, Bytes stop) {
  constexpr int kStopRounds = 8;
  constexpr auto kStopGrace = std::chrono::milliseconds(250);
  const std::uint32_t consumers = std::uint32_t(plan.consumers);
  for (int round = 0; round < kStopRounds; ++round) {
    const std::uint32_t stopped = s.stopped.load(std::memory_order_acquire);
    if (stopped == consumers) break;
    if (stopped > consumers)
      return "fanin: " + std::to_string(stopped) + " stops taken by " + std::to_string(consumers) +
             " consumers (a party wrote the count)";
    for (std::uint32_t c = stopped; c < consumers; ++c)
      if (const Status st = q.put(stop); !st) return "stop: " + explain(st);
    const auto until = std::chrono::steady_clock::now() + kStopGrace;
    while (s.stopped.load(std::memory_order_acquire) < consumers && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(kGroupPoll);
  }
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
  const TransportDef& def = *plan.transport;
  Made<SharedQueue> queue = def.many_to_many.create({.msg_bytes = plan.size, .depth = kFaninDepth});
  if (!queue) {
    res.error = queue.error;
    return res;
  }
  Made<ShmSegment> region = ShmSegment::create(kGroupPayloadOffset + sizeof(FaninShared), "fanin");
  if (!region) {
    res.error = region.error;
    return res;
  }
  auto* s = new (region.value->data() + kGroupPayloadOffset) FaninShared();
  IPCM_CHECK(def.name.size() < sizeof s->transport);
  std::memcpy(s->transport, def.name.data(), def.name.size());
  s->producers = plan.producers;
  s->consumers = plan.consumers;
  s->size = plan.size;
  s->messages = plan.messages;
  const std::string address = queue.value->address();
  IPCM_CHECK(address.size() < sizeof s->address);
  std::memcpy(s->address, address.c_str(), address.size() + 1);
  s->owner_pid = getpid();
  s->owner = queue.value.get();

  const int parties = plan.producers + plan.consumers;
  Made<PartyGroup> g = PartyGroup::start(plan.peer, "fanin", *region.value, parties);
  if (!g) {
    res.error = g.error;
    return res;
  }
  PartyGroup& group = *g.value;
  group.set_on_cancel([q = queue.value.get()] { q->interrupt(); });
  std::string err = queue.value->start_serving();
  if (err.empty()) err = group.wait_ready();
  std::uint64_t serving_cpu_at_gate = 0;
  if (err.empty()) {
    serving_cpu_at_gate = queue.value->serving_cpu_ns();
    group.open_gate();
    if (plan.on_running) plan.on_running(group.pids());
    // join(): every message has been through task_done().
    err = group.wait_for([s] { return s->joined.load(std::memory_order_acquire) != 0; });
  }
  const std::uint64_t serving_cpu = queue.value->serving_cpu_ns() - serving_cpu_at_gate;
  if (err.empty()) {
    // Then one stop per consumer, through the same queue.
    Made<QueueEnd> q = open_end(def, *s, group.header().cancel);
    if (!q) {
      err = q.error;
    } else {
      AlignedBuffer stop(plan.size);
      const FaninHeader h{0, FaninKind::kStop, 0, 0};
      std::memcpy(stop.data(), &h, sizeof h);
      err = send_stops(plan, *s, *q.value, Bytes(stop.data(), plan.size));
      if (err.empty()) err = group.wait_done();
    }
  }
  if (!err.empty()) {
    res.error = err;
    return res;
  }
  res.error = reconcile(plan, *s);
  if (!res.error.empty()) return res;
  res.messages = plan.messages;
  res.seconds = TickClock::get().to_ns(s->joined_tick - group.header().start_tick) * 1e-9;
  res.cpu_ns = group.cpu_ns() + serving_cpu;
  return res;
}

}  // namespace ipcm
