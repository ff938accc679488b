// The many-to-many form (TransportDef::many_to_many) at the transport level, and the one
// refusal sentence. Every transport that offers the form carries a many-producer round intact
// (each message sealed with its producer, sequence number and a checksum of its payload, and
// every producer's messages counted in order at the consumer), from threads and, where the
// transport reaches them, from processes that open the queue by its address; a blocked get
// gives up once the group is cancelled; a queue transport without the form is refused with a
// reason; and every refusal a family or Session reports is TransportDef::refusal's text.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness/core/buffer.h"
#include "bench/fanin/fanin.h"
#include "harness/core/message.h"
#include "harness/launch/session.h"
#include "tests/support.h"

namespace ipcm {
namespace {

constexpr std::size_t kMsgBytes = 256;
constexpr std::size_t kDepth = 16;  // well below the messages sent, so producers wait on a full queue
constexpr std::uint64_t kPerProducer = 2000;

struct Sealed {
  std::uint32_t producer;
  std::uint32_t pad;
  std::uint64_t seq;
  std::uint64_t check;
};

// The payload changes with every message, so a message delivered twice or torn is caught.
void fill(std::byte* p, std::uint32_t producer, std::uint64_t seq) {
  for (std::size_t i = sizeof(Sealed); i < kMsgBytes; ++i) p[i] = std::byte((i * 31 + seq * 7 + producer * 13) & 0xff);
}
std::uint64_t seal_of(const std::byte* p, std::uint32_t producer, std::uint64_t seq) {
  return payload_hash(p + sizeof(Sealed), kMsgBytes - sizeof(Sealed)) ^ (std::uint64_t(producer) << 40) ^ seq;
}

// "" or what went wrong.
std::string produce(QueueEnd& q, std::uint32_t producer) {
  AlignedBuffer msg(kMsgBytes);
  for (std::uint64_t seq = 0; seq < kPerProducer; ++seq) {
    fill(msg.data(), producer, seq);
    const Sealed h{producer, 0, seq, seal_of(msg.data(), producer, seq)};
    std::memcpy(msg.data(), &h, sizeof h);
    if (const Status st = q.put(Bytes(msg.data(), kMsgBytes)); !st) return "put: " + st.describe();
  }
  // As fanin's producers end: the queue holds every message before the end closes.
  if (const Status st = q.finish(); !st) return "finish: " + st.describe();
  return "";
}

// Takes every producer's messages off the queue, checking each; "" or what went wrong.
std::string consume(QueueEnd& q, std::uint32_t producers) {
  AlignedBuffer buf(kMsgBytes);
  std::vector<std::uint64_t> next(producers, 0);
  for (std::uint64_t n = 0; n < producers * kPerProducer; ++n) {
    std::size_t got = 0;
    if (const Status st = q.get(std::span(buf.data(), kMsgBytes), got); !st) return "get: " + st.describe();
    if (got != kMsgBytes) return "a message of " + std::to_string(got) + " bytes";
    Sealed h;
    std::memcpy(&h, buf.data(), sizeof h);
    if (h.producer >= producers) return "a message from no producer";
    if (h.check != seal_of(buf.data(), h.producer, h.seq)) return "a message failed its checksum";
    if (h.seq != next[h.producer])
      return "producer " + std::to_string(h.producer) + ": got " + std::to_string(h.seq) + ", expected " +
             std::to_string(next[h.producer]);
    ++next[h.producer];
  }
  return "";
}

std::vector<const TransportDef*> with_form() {
  std::vector<const TransportDef*> v;
  for (const TransportDef* t : transports())
    if (t->many_to_many) v.push_back(t);
  return v;
}

std::string def_name(const testing::TestParamInfo<const TransportDef*>& info) { return std::string(info.param->name); }

class ManyToMany : public testing::TestWithParam<const TransportDef*> {};

TEST_P(ManyToMany, ThreadProducersDeliverIntactInOrder) {
  const TransportDef& t = *GetParam();
  const std::set<std::string> before = my_objects();
  {
    std::atomic<std::uint32_t> cancel{0};
    const QueueConfig cfg{.msg_bytes = kMsgBytes, .depth = kDepth, .cancel = &cancel};
    Made<SharedQueue> q = t.many_to_many.create(cfg);
    ASSERT_TRUE(q) << q.error;
    ASSERT_EQ(q.value->start_serving(), "");
    constexpr std::uint32_t kProducers = 4;
    std::vector<std::string> errors(kProducers);
    std::vector<std::thread> threads;
    for (std::uint32_t p = 0; p < kProducers; ++p) {
      threads.emplace_back([&, p] {
        // Half the producers open by address, as a process would, where the transport allows.
        SharedQueue* local = (p % 2 == 0 || !t.crosses_processes()) ? q.value.get() : nullptr;
        Made<QueueEnd> end = t.many_to_many.open(q.value->address(), cfg, local);
        errors[p] = end ? produce(*end.value, p) : end.error;
        if (!errors[p].empty()) {
          cancel.store(1);
          q.value->interrupt();
        }
      });
    }
    Made<QueueEnd> end = t.many_to_many.open(q.value->address(), cfg, q.value.get());
    ASSERT_TRUE(end) << end.error;
    const std::string why = consume(*end.value, kProducers);
    if (!why.empty()) {
      cancel.store(1);
      q.value->interrupt();
    }
    for (std::thread& th : threads) th.join();
    EXPECT_EQ(why, "");
    for (std::uint32_t p = 0; p < kProducers; ++p) EXPECT_EQ(errors[p], "") << "producer " << p;
  }
  EXPECT_EQ(my_objects(), before) << "named objects left behind";
}

TEST_P(ManyToMany, ProcessProducersOpenByAddress) {
  const TransportDef& t = *GetParam();
  if (!t.reaches(PeerKind::kFork)) GTEST_SKIP() << t.name << " reaches threads only";
  const std::set<std::string> before = my_objects();
  {
    std::atomic<std::uint32_t> cancel{0};
    const QueueConfig cfg{.msg_bytes = kMsgBytes, .depth = kDepth, .cancel = &cancel};
    Made<SharedQueue> q = t.many_to_many.create(cfg);
    ASSERT_TRUE(q) << q.error;
    const std::string address = q.value->address();
    constexpr std::uint32_t kProducers = 3;
    std::vector<pid_t> kids;
    for (std::uint32_t p = 0; p < kProducers; ++p) {
      const pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        int rc = 1;
        {
          Made<QueueEnd> end = t.many_to_many.open(address, cfg, nullptr);
          rc = end && produce(*end.value, p).empty() ? 0 : 1;
        }  // closed before _exit, as a party's end is
        _exit(rc);
      }
      kids.push_back(pid);
    }
    // As fanin does: once the parties exist (a queue's own threads must not exist at a fork).
    const std::string serving = q.value->start_serving();
    if (!serving.empty()) cancel.store(1);
    EXPECT_EQ(serving, "");
    // A child that fails stops producing, and the consumer's get then gives up; a consumer
    // that fails kills the children, which would otherwise wait on a full queue for ever.
    std::atomic<int> failed_children{0};
    std::thread watch([&] {
      for (pid_t pid : kids) {
        int ws = 0;
        if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
          ++failed_children;
          cancel.store(1);
        }
      }
    });
    Made<QueueEnd> end = t.many_to_many.open(address, cfg, q.value.get());
    const std::string why = end ? consume(*end.value, kProducers) : end.error;
    if (!why.empty())
      for (pid_t pid : kids) kill(pid, SIGKILL);
    watch.join();
    EXPECT_EQ(why, "");
    EXPECT_EQ(failed_children.load(), 0) << "a producer process failed";
  }
  EXPECT_EQ(my_objects(), before) << "named objects left behind";
  EXPECT_TRUE(no_children_left());
}

TEST_P(ManyToMany, BlockedGetGivesUpWhenCancelled) {
  const TransportDef& t = *GetParam();
  std::atomic<std::uint32_t> cancel{0};
  const QueueConfig cfg{.msg_bytes = kMsgBytes, .depth = kDepth, .cancel = &cancel};
  Made<SharedQueue> q = t.many_to_many.create(cfg);
  ASSERT_TRUE(q) << q.error;
  ASSERT_EQ(q.value->start_serving(), "");
  Made<QueueEnd> end = t.many_to_many.open(q.value->address(), cfg, q.value.get());
  ASSERT_TRUE(end) << end.error;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cancel.store(1);
    q.value->interrupt();  // what the group's on-cancel hook does
  });
  AlignedBuffer buf(kMsgBytes);
  std::size_t got = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = end.value->get(std::span(buf.data(), kMsgBytes), got);
  stopper.join();
  EXPECT_EQ(st.code, Status::kCancelled) << st.describe();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10 * kCancelPoll);
}

INSTANTIATE_TEST_SUITE_P(Registry, ManyToMany, testing::ValuesIn(with_form()), def_name);

// ZeroMQ's device queue: a producer's finish() returns once the device has taken its messages
// (zmq_common.h), so it must wait while the device does not serve yet, give up when the group
// is cancelled, and return Ok once the device has served them to a consumer. A finish() that
// returned at once would let a producer close with its last messages still in libzmq, which
// lost them (1 run in 60-400 of ThreadProducersDeliverIntactInOrder/zmq_ipc).
TEST(ZmqDevice, FinishWaitsForTheDeviceToTakeEveryMessage) {
  const TransportDef* t = find_transport("zmq_ipc");
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->many_to_many);
  const std::set<std::string> before = my_objects();
  {
    std::atomic<std::uint32_t> cancel{0};
    const QueueConfig cfg{.msg_bytes = kMsgBytes, .depth = kDepth, .cancel = &cancel};
    Made<SharedQueue> q = t->many_to_many.create(cfg);
    ASSERT_TRUE(q) << q.error;
    Made<QueueEnd> early = t->many_to_many.open(q.value->address(), cfg, nullptr);
    ASSERT_TRUE(early) << early.error;
    AlignedBuffer msg(kMsgBytes);
    ASSERT_TRUE(early.value->put(Bytes(msg.data(), kMsgBytes)));
    // Not serving yet: nothing can answer, so finish() waits until the cancel.
    std::thread stopper([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      cancel.store(1);
    });
    const auto t0 = std::chrono::steady_clock::now();
    const Status waited = early.value->finish();
    const auto took = std::chrono::steady_clock::now() - t0;
    stopper.join();
    EXPECT_EQ(waited.code, Status::kCancelled) << waited.describe();
    EXPECT_GE(took, std::chrono::milliseconds(250));
    EXPECT_LT(took, std::chrono::milliseconds(300) + 10 * kCancelPoll);
  }
  {
    std::atomic<std::uint32_t> cancel{0};
    const QueueConfig cfg{.msg_bytes = kMsgBytes, .depth = kDepth, .cancel = &cancel};
    Made<SharedQueue> q = t->many_to_many.create(cfg);
    ASSERT_TRUE(q) << q.error;
    ASSERT_EQ(q.value->start_serving(), "");
    Made<QueueEnd> producer = t->many_to_many.open(q.value->address(), cfg, nullptr);
    Made<QueueEnd> consumer = t->many_to_many.open(q.value->address(), cfg, q.value.get());
    ASSERT_TRUE(producer) << producer.error;
    ASSERT_TRUE(consumer) << consumer.error;
    std::string consumed;
    std::thread taker([&] { consumed = consume(*consumer.value, 1); });
    const std::string produced = produce(*producer.value, 0);  // its puts, then finish()
    if (!produced.empty()) {  // the consumer would wait for the rest for ever
      cancel.store(1);
      q.value->interrupt();
    }
    taker.join();
    EXPECT_EQ(produced, "");
    EXPECT_EQ(consumed, "");
  }
  EXPECT_EQ(my_objects(), before) << "named objects left behind";
}

// Not every queue transport offers the form (the messaging libraries but zmq_ipc say why); the
// suite above must not run empty.
TEST(ManyToManyRegistry, EveryQueueTransportOffersTheFormOrFaninSaysWhy) {
  EXPECT_GE(with_form().size(), 3u);
  for (const TransportDef* t : transports()) {
    if (!fanin_transport(*t)) continue;
    const std::string why = fanin_refusal(*t, PeerKind::kThread, 64);
    if (t->many_to_many)
      EXPECT_EQ(why, "") << t->name;
    else
      EXPECT_NE(why.find("no many-to-many access to " + std::string(t->name)), std::string::npos) << why;
  }
}

Made<Link> no_link(const ChannelConfig&) { return Made<Link>::Fail("not for use"); }
Made<Channel> no_channel(const PeerSpec&, const ChannelConfig&, Link*) { return Made<Channel>::Fail("not for use"); }

// A queue transport that offers only the point-to-point form.
const TransportDef kPointToPointQueue{
    .name = "p2p_queue",
    .kind = Kind::kQueue,
    .peers = kAllPeers,
    .create = no_link,
    .attach = no_channel,
};

TEST(ManyToManyRegistry, QueueWithoutTheFormIsRefusedWithAReason) {
  ASSERT_TRUE(fanin_transport(kPointToPointQueue));
  const std::set<std::string> before = my_objects();
  FaninPlan plan{&kPointToPointQueue, PeerKind::kThread, 2, 1, 64, 100, {}};
  const FaninResult r = run_fanin(plan);
  EXPECT_EQ(r.error, "fanin has no many-to-many access to p2p_queue yet");
  EXPECT_EQ(fanin_refusal(kPointToPointQueue, PeerKind::kFork, 64), r.error);
  EXPECT_EQ(my_objects(), before);
}

// ---- The one refusal sentence ----

TEST(Refusal, ThreadOnlyTransportKeepsTheContractText) {
  const TransportDef* t = find_transport("tbb_queue");
  ASSERT_NE(t, nullptr);
  EXPECT_FALSE(t->crosses_processes());
  EXPECT_EQ(t->refusal(PeerKind::kFork, 64), "tbb_queue connects threads of one process only; it cannot reach a fork peer");
  EXPECT_EQ(t->refusal(PeerKind::kSpawn, 64), "tbb_queue connects threads of one process only; it cannot reach a spawn peer");
  EXPECT_EQ(t->refusal(PeerKind::kThread, 64), "");
}

TEST(Refusal, APartialReachNamesWhatItReaches) {
  const TransportDef forkable{
      .name = "forkable", .kind = Kind::kPipe, .peers = {PeerKind::kThread, PeerKind::kFork}, .create = no_link, .attach = no_channel};
  EXPECT_TRUE(forkable.crosses_processes());
  EXPECT_EQ(forkable.refusal(PeerKind::kFork, 64), "");
  EXPECT_EQ(forkable.refusal(PeerKind::kSpawn, 64), "forkable cannot reach a spawn peer (it reaches thread, fork)");
}

// Session (pingpong, stream, ...) and fanin report exactly TransportDef::refusal's sentence.
TEST(Refusal, SessionAndFaninUseTheOneSentence) {
  int refused = 0;
  for (const TransportDef* t : transports()) {
    for (PeerKind peer : kAllPeers) {
      std::vector<std::size_t> sizes = {64};
      if (auto limit = t->max_msg_bytes()) sizes.push_back(*limit + 1);
      for (std::size_t size : sizes) {
        const std::string expected = t->refusal(peer, size);
        if (expected.empty()) continue;
        ++refused;
        SessionOptions o;
        o.transport = t;
        o.peer = peer;
        o.cfg.msg_bytes = size;
        Made<Session> s = Session::start(o);
        ASSERT_FALSE(s) << t->name << " should have been refused";
        EXPECT_EQ(s.error, expected);
        if (t->many_to_many) {
          EXPECT_EQ(fanin_refusal(*t, peer, size), expected);
          FaninPlan plan{t, peer, 2, 1, size, 100, {}};
          EXPECT_EQ(run_fanin(plan).error, expected);
        }
      }
    }
  }
  EXPECT_GE(refused, 2) << "tbb_queue alone refuses fork and spawn";
  EXPECT_TRUE(no_children_left());
}

TEST(Refusal, CrossesProcessesFollowsTheReach) {
  for (const TransportDef* t : transports())
    EXPECT_EQ(t->crosses_processes(), t->reaches(PeerKind::kFork) || t->reaches(PeerKind::kSpawn)) << t->name;
}

}  // namespace
}  // namespace ipcm
