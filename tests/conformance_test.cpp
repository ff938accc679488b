// The conformance test over the registry: every transport x peer x size (x wait) delivers
// messages intact and in order both ways, and leaves no process or named object behind.
// It runs the same workload loops and sessions as the benchmarks, only counted instead of
// timed. A combination that cannot run must say why, as the benchmark would.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <string>

#include "harness/core/names.h"
#include "tests/support.h"
#include "harness/launch/session.h"
#include "bench/pingpong/pingpong.h"
#include "bench/stream/stream.h"

namespace ipcm {
namespace {

constexpr std::size_t kSizes[] = {8, 64, 1000, 4096 + 13, 64u << 10, 1u << 20};
constexpr std::uint64_t kRoundTrips = 64;
constexpr std::uint64_t kStreamMessages = 1000;
// Large messages: fewer, to keep the test quick.
constexpr std::uint64_t kStreamBytesCap = 64u << 20;

struct Case {
  const TransportDef* transport;
  PeerKind peer;
  std::size_t size;
  Wait wait;
};

// Readable parameters in ctest's list rather than a hex dump.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.transport->name << "/" << peer_name(c.peer) << "/" << c.size << "/" << wait_name(c.wait);
}

std::string case_name(const testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  std::string n = std::string(c.transport->name) + "_" + peer_name(c.peer) + "_" + std::to_string(c.size);
  if (!c.transport->waits.empty()) n += std::string("_") + wait_name(c.wait);
  return n;
}

std::vector<Case> all_cases() {
  std::vector<Case> v;
  for (const TransportDef* t : transports())
    for (PeerKind p : kAllPeers)
      for (std::size_t s : kSizes) {
        if (t->waits.empty()) v.push_back({t, p, s, Wait::kBlock});
        for (Wait w : t->waits) v.push_back({t, p, s, w});
      }
  return v;
}

// Why a combination legitimately cannot run here, or "" if it must run.
std::string expected_refusal(const Case& c) {
  // The peer-kind table speaks first (Session::start asks it before the transport).
  if (std::string no = peer_refusal(c.peer, PeerUse::kLinkEnd); !no.empty()) return no;
  if (!c.transport->reaches(c.peer)) return "cannot reach";
  if (auto limit = c.transport->max_msg_bytes(); limit && c.size > *limit) return "exceeds";
  return "";
}

SessionOptions options(const Case& c, Role role, std::size_t depth) {
  SessionOptions o;
  o.transport = c.transport;
  o.peer = c.peer;
  o.role = role;
  o.cfg.msg_bytes = c.size;
  o.cfg.depth = depth;
  o.cfg.wait = c.wait;
  return o;
}

class Conformance : public testing::TestWithParam<Case> {};

TEST_P(Conformance, DeliversIntactInOrderAndCleansUp) {
  const Case& c = GetParam();
  const std::set<std::string> before = my_objects();
  const std::string refusal = expected_refusal(c);
  {
    Made<Session> s = Session::start(options(c, Role::kEcho, 1));
    if (!refusal.empty()) {
      ASSERT_FALSE(s) << "should have been refused";
      EXPECT_NE(s.error.find(refusal), std::string::npos) << s.error;
      return;
    }
    ASSERT_TRUE(s) << s.error;
    MessageSet ms(c.size);
    Histogram h;
    std::uint64_t seq = 0, n = kRoundTrips;
    Status st = pingpong_loop(s.value->channel(), ms, h, s.value->progress(), 0, seq, [&] { return n-- > 0; });
    ASSERT_TRUE(st) << s.value->explain(st);
    EXPECT_EQ(seq, kRoundTrips);
    EXPECT_EQ(h.count(), kRoundTrips);
    st = s.value->request_stop(ms, seq);
    ASSERT_TRUE(st) << s.value->explain(st);
    st = s.value->finish(ms, seq);
    ASSERT_TRUE(st) << s.value->explain(st);
  }
  {
    Made<Session> s = Session::start(options(c, Role::kSink, kStreamWindow));
    ASSERT_TRUE(s) << s.error;
    MessageSet ms(c.size);
    std::uint64_t seq = 0, n = std::min<std::uint64_t>(kStreamMessages, kStreamBytesCap / c.size);
    const std::uint64_t sent = n;
    Status st = stream_loop(s.value->channel(), ms, s.value->progress(), 0, seq, [&] { return n-- > 0; });
    ASSERT_TRUE(st) << s.value->explain(st);
    // The ack carries the count the receiver checked: every message arrived, in order.
    st = s.value->request_stop(ms, seq);
    ASSERT_TRUE(st) << s.value->explain(st);
    EXPECT_EQ(seq, sent);
    st = s.value->finish(ms, seq);
    ASSERT_TRUE(st) << s.value->explain(st);
  }
  EXPECT_EQ(my_objects(), before) << "named objects left behind";
  EXPECT_TRUE(no_children_left()) << "a peer process was not reaped";
}

INSTANTIATE_TEST_SUITE_P(Registry, Conformance, testing::ValuesIn(all_cases()), case_name);

// A message out of sequence ends the run with an error that says so, on both sides.
TEST(Faults, OutOfSequenceMessageIsReported) {
  for (PeerKind peer : kAllPeers) {
    Case c{find_transport("pipe"), peer, 64, Wait::kBlock};
    Made<Session> s = Session::start(options(c, Role::kEcho, 1));
    ASSERT_TRUE(s) << s.error;
    MessageSet ms(64);
    ASSERT_TRUE(s.value->channel().send(ms.stamp(MsgKind::kData, 5)));  // the peer expects 0
    Bytes reply;
    ASSERT_TRUE(s.value->channel().recv(reply));
    const Status st = verify_message(reply, 64, MsgKind::kData, 0);
    EXPECT_EQ(st.code, Status::kCorrupt);
    const Status fin = s.value->finish(ms, 0);
    EXPECT_FALSE(fin);
    const std::string why = s.value->explain(fin);
    EXPECT_NE(why.find("out of sequence"), std::string::npos) << why;
  }
  EXPECT_TRUE(no_children_left());
}

// A peer process killed mid-run ends the run promptly with an error naming the signal, for
// every transport that crosses processes; nothing is left behind.
TEST(Faults, KilledPeerIsNoticedAndReaped) {
  const std::set<std::string> before = my_objects();
  for (const TransportDef* t : transports()) {
    if (!t->reaches(PeerKind::kFork)) continue;
    // A transport whose locks are not robust promises no clean end after its peer is killed
    // (bip_mq: Boost.Interprocess's mutexes). The fault suite lists them as n/a.
    if (!t->survives_dead_peer) continue;
    Case c{t, PeerKind::kFork, 64, t->waits.empty() ? Wait::kBlock : t->waits.front()};
    Made<Session> s = Session::start(options(c, Role::kEcho, 1));
    ASSERT_TRUE(s) << t->name << ": " << s.error;
    MessageSet ms(64);
    Histogram h;
    std::uint64_t seq = 0, n = 10;
    ASSERT_TRUE(pingpong_loop(s.value->channel(), ms, h, s.value->progress(), 0, seq, [&] { return n-- > 0; }));
    kill(s.value->peer_pid(), SIGKILL);
    const Status st = pingpong_loop(s.value->channel(), ms, h, s.value->progress(), 0, seq, [] { return true; });
    EXPECT_FALSE(st) << t->name;
    const std::string why = s.value->explain(st);
    EXPECT_NE(why.find("Killed"), std::string::npos) << t->name << ": " << why;
  }
  EXPECT_EQ(my_objects(), before);
  EXPECT_TRUE(no_children_left());
}

// The watchdog must not wake on the peer's CPU while a run goes well (limits.h says why),
// yet must still end a run at once when the peer dies: shm_ring spin is the case only the
// watchdog can end, as nothing in the link reports the death.
TEST(Faults, WatchdogSleepsWhileRunningAndWakesWhenThePeerDies) {
  Case c{find_transport("shm_ring"), PeerKind::kFork, 64, Wait::kSpin};
  Made<Session> s = Session::start(options(c, Role::kEcho, 1));
  ASSERT_TRUE(s) << s.error;
  MessageSet ms(64);
  Histogram h;
  std::uint64_t seq = 0;
  const std::uint64_t wakes_before = s.value->watchdog_wakes();
  const auto run_for = std::chrono::milliseconds(300);
  const auto until = Clock::now() + run_for;
  ASSERT_TRUE(pingpong_loop(s.value->channel(), ms, h, s.value->progress(), 0, seq, [&] { return Clock::now() < until; }));
  const auto tick = std::chrono::duration_cast<std::chrono::milliseconds>(peer_timeout()) / kProgressChecksPerTimeout;
  // The 20 ms poll it replaced woke ~15 times here.
  EXPECT_LE(s.value->watchdog_wakes() - wakes_before, std::uint64_t(run_for / tick) + 1);
  kill(s.value->peer_pid(), SIGKILL);
  const auto t0 = Clock::now();
  const Status st = pingpong_loop(s.value->channel(), ms, h, s.value->progress(), 0, seq, [] { return true; });
  EXPECT_FALSE(st);
  // Far below the progress tick (1 s by default): the pidfd woke it, not the tick.
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(500));
  const std::string why = s.value->explain(st);
  EXPECT_NE(why.find("Killed"), std::string::npos) << why;
  s.value.reset();
  EXPECT_TRUE(no_children_left());
}

// A peer that stops answering (SIGSTOP) is killed after the timeout; the run gets an error.
TEST(Faults, HungPeerTimesOut) {
  for (const char* name : {"pipe", "shm_ring"}) {
    Case c{find_transport(name), PeerKind::kSpawn, 64, Wait::kSpin};
    Made<Session> s = Session::start(options(c, Role::kEcho, 1));
    ASSERT_TRUE(s) << s.error;
    kill(s.value->peer_pid(), SIGSTOP);
    MessageSet ms(64);
    Histogram h;
    std::uint64_t seq = 0;
    const auto t0 = Clock::now();
    const Status st = pingpong_loop(s.value->channel(), ms, h, s.value->progress(), 0, seq, [] { return true; });
    EXPECT_FALSE(st);
    // The watchdog counts from the last sign of life, which was just before t0.
    EXPECT_GE(Clock::now() - t0, kPeerTimeout - std::chrono::seconds(1));
    const std::string why = s.value->explain(st);
    EXPECT_NE(why.find("stopped answering"), std::string::npos) << why;
  }
  EXPECT_TRUE(no_children_left());
}

// A thread-only transport refuses process peers with a reason instead of disappearing.
TEST(Registry, EveryTransportIsDescribed) {
  std::set<std::string_view> names;
  for (const TransportDef* t : transports()) {
    EXPECT_TRUE(names.insert(t->name).second) << "duplicate " << t->name;
    EXPECT_EQ(find_transport(t->name), t);
  }
  for (const char* required : {"pipe", "socketpair", "fifo", "tcp", "posix_mq", "bip_mq", "tbb_queue", "shm_ring"})
    EXPECT_NE(find_transport(required), nullptr) << required;
}

}  // namespace
}  // namespace ipcm
