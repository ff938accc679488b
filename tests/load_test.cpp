// The load family's parts: Channel::recv_until on every transport of the registry (it times
// out when nothing comes, takes a message that does, and consumes nothing when it times out),
// the open-loop sender on a scripted link and clock (every message intact and in order, sends
// on schedule, the window never exceeded, a stall charged to every message behind it), and the
// saturation verdict on made-up intervals.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/load/load.h"
#include "harness/launch/session.h"
#include "tests/support.h"

namespace ipcm {
namespace {

using namespace std::chrono_literals;

// ---- recv_until on every transport ----

struct Case {
  const TransportDef* transport;
  PeerKind peer;
  Wait wait;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.transport->name << "/" << peer_name(c.peer) << "/" << wait_name(c.wait);
}

std::string case_name(const testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  std::string n = std::string(c.transport->name) + "_" + peer_name(c.peer);
  if (!c.transport->waits.empty()) n += std::string("_") + wait_name(c.wait);
  return n;
}

// Every transport with every wait it offers, over every peer kind it reaches as a link end.
std::vector<Case> reachable_cases() {
  std::vector<Case> v;
  for (const TransportDef* t : transports())
    for (PeerKind p : kAllPeers) {
      if (!t->reaches(p) || !peer_refusal(p, PeerUse::kLinkEnd).empty()) continue;
      if (t->waits.empty()) v.push_back({t, p, Wait::kBlock});
      for (Wait w : t->waits) v.push_back({t, p, w});
    }
  return v;
}

constexpr std::size_t kSize = 64;

class RecvUntil : public testing::TestWithParam<Case> {};

TEST_P(RecvUntil, TimesOutWhenNothingComesAndTakesWhatDoes) {
  const Case& c = GetParam();
  const std::set<std::string> before = my_objects();
  {
    SessionOptions opt;
    opt.transport = c.transport;
    opt.peer = c.peer;
    opt.role = Role::kEcho;
    opt.cfg.msg_bytes = kSize;
    opt.cfg.depth = kLoadDepth;  // as the load family asks (load.h says why)
    opt.cfg.wait = c.wait;
    Made<Session> made = Session::start(opt);
    ASSERT_TRUE(made) << made.error;
    Session& s = *made.value;
    Channel& ch = s.channel();
    MessageSet ms(kSize);
    Bytes m;

    // Nothing was sent, so nothing comes: the call ends at the deadline, not before, and
    // not much after.
    const auto t0 = Clock::now();
    Status st = ch.recv_until(m, t0 + 30ms);
    const auto waited = Clock::now() - t0;
    EXPECT_EQ(st.code, Status::kTimedOut) << st.describe();
    // Boost's timed_receive rounds the deadline to its µs clock.
    EXPECT_GE(waited, 30ms - 1ms);
    EXPECT_LT(waited, 2s);

    // A message that comes before the deadline is taken whole, long before it.
    ASSERT_TRUE(ch.send(ms.stamp(MsgKind::kData, 0)));
    const auto t1 = Clock::now();
    st = ch.recv_until(m, t1 + 10s);
    ASSERT_TRUE(st) << s.explain(st);
    EXPECT_LT(Clock::now() - t1, 5s);
    EXPECT_TRUE(verify_message(m, kSize, MsgKind::kData, 0));

    // A message already there is taken even when the deadline has passed.
    ASSERT_TRUE(ch.send(ms.stamp(MsgKind::kData, 1)));
    std::this_thread::sleep_for(50ms);
    st = ch.recv_until(m, Clock::now() - 1ms);
    ASSERT_TRUE(st) << s.explain(st);
    EXPECT_TRUE(verify_message(m, kSize, MsgKind::kData, 1));

    // A short timeout between sends consumes nothing: the echo that comes after it is whole.
    ASSERT_TRUE(ch.send(ms.stamp(MsgKind::kData, 2)));
    for (int i = 0; i < 3; ++i) {
      st = ch.recv_until(m, Clock::now() + 1us);
      if (st) break;
      EXPECT_EQ(st.code, Status::kTimedOut) << st.describe();
    }
    if (!st) st = ch.recv(m);
    ASSERT_TRUE(st) << s.explain(st);
    EXPECT_TRUE(verify_message(m, kSize, MsgKind::kData, 2));

    // The open-loop sender on this link: every echo intact and in order.
    std::uint64_t seq = 3;
    LoadHistograms h;
    LoadTally tally;
    const LoadPlan plan{.messages = 300, .period_ns = 20'000, .window = load_link_window(s.window_msgs(), kSize)};
    st = load_loop(ch, ms, plan, h, tally, s.progress(), seq, [] { return Clock::now(); });
    ASSERT_TRUE(st) << s.explain(st);
    EXPECT_EQ(tally.received, 300u);
    EXPECT_EQ(h.all.count(), 300u);
    EXPECT_EQ(seq, 303u);
    st = s.request_stop(ms, seq);
    ASSERT_TRUE(st) << s.explain(st);
    st = s.finish(ms, seq);
    ASSERT_TRUE(st) << s.explain(st);
  }
  EXPECT_EQ(my_objects(), before) << "named objects left behind";
  EXPECT_TRUE(no_children_left()) << "a peer process was not reaped";
}

INSTANTIATE_TEST_SUITE_P(Registry, RecvUntil, testing::ValuesIn(reachable_cases()), case_name);

// ---- the open-loop sender on a scripted link ----

// An echo with a scripted clock: each message comes back `service` after it was sent, in
// order (never before the one ahead of it), and the message numbered `stall_at` is held `stall`
// longer. Waiting moves the clock: to the echo's time when one is there by the deadline, to
// the deadline otherwise.
class ScriptedEcho final : public Channel {
 public:
  ScriptedEcho(std::chrono::nanoseconds service, std::uint64_t stall_at, std::chrono::nanoseconds stall)
      : service_(service), stall_at_(stall_at), stall_(stall), now_(Clock::time_point{} + 1s) {}

  Clock::time_point now() const { return now_; }
  Status send(Bytes msg) noexcept override {
    auto ready = now_ + service_;
    if (sent_ == stall_at_) ready += stall_;
    if (!queue_.empty()) ready = std::max(ready, queue_.back().ready);
    queue_.push_back({std::vector<std::byte>(msg.begin(), msg.end()), ready});
    send_times.push_back(now_);
    ++sent_;
    max_in_flight = std::max<std::uint64_t>(max_in_flight, sent_ - received_);
    if (swap_at_ != 0 && sent_ == swap_at_ + 1) std::swap(queue_[queue_.size() - 1], queue_[queue_.size() - 2]);
    return Status::Ok();
  }
  Status recv(Bytes& out) noexcept override { return recv_until(out, Clock::time_point::max()); }
  Status recv_until(Bytes& out, Deadline deadline) noexcept override {
    // A poll (a deadline already passed, as the sender makes just before a due time) takes
    // time too, as a real one does: 1 ns, or until the next echo is ready.
    if (deadline <= now_) deadline = now_ + std::chrono::nanoseconds(1);
    if (queue_.empty() || queue_.front().ready > deadline) {
      if (deadline == Clock::time_point::max()) return Status::Closed("scripted echo: nothing in flight");
      now_ = std::max(now_, deadline);
      return Status::TimedOut("scripted echo");
    }
    now_ = std::max(now_, queue_.front().ready);
    held_ = std::move(queue_.front().bytes);
    queue_.pop_front();
    ++received_;
    out = Bytes(held_.data(), held_.size());
    return Status::Ok();
  }
  // Delivers message n+1 before message n.
  void swap_after(std::uint64_t n) { swap_at_ = n; }

  std::vector<Clock::time_point> send_times;
  std::uint64_t max_in_flight = 0;

 private:
  struct InFlight {
    std::vector<std::byte> bytes;
    Clock::time_point ready;
  };
  std::chrono::nanoseconds service_;
  std::uint64_t stall_at_;
  std::chrono::nanoseconds stall_;
  Clock::time_point now_;
  std::deque<InFlight> queue_;
  std::vector<std::byte> held_;
  std::uint64_t sent_ = 0, received_ = 0, swap_at_ = 0;
};

constexpr std::uint64_t kNoStall = ~std::uint64_t{0};

TEST(LoadLoop, SendsOnScheduleAndReadsEveryEchoInOrder) {
  ScriptedEcho ch(300ns, kNoStall, 0ns);
  MessageSet ms(64);
  LoadHistograms h;
  LoadTally tally;
  std::atomic<std::uint64_t> progress{0};
  std::uint64_t seq = 0;
  const LoadPlan plan{.messages = 1000, .period_ns = 1000, .window = 8};
  ASSERT_TRUE(load_loop(ch, ms, plan, h, tally, progress, seq, [&] { return ch.now(); }));
  EXPECT_EQ(tally.received, 1000u);
  EXPECT_EQ(seq, 1000u);
  EXPECT_EQ(progress.load(), 1000u);
  EXPECT_EQ(tally.late_sends, 0u);
  ASSERT_EQ(ch.send_times.size(), 1000u);
  for (std::size_t i = 0; i < ch.send_times.size(); ++i)
    ASSERT_EQ(ch.send_times[i], tally.start + std::chrono::nanoseconds(1000 * i)) << i;
  // Every echo came 300 ns after its due time.
  EXPECT_EQ(h.all.count(), 1000u);
  EXPECT_EQ(h.all.min(), 300u);
  EXPECT_EQ(h.all.max(), 300u);
  EXPECT_EQ(h.first_quarter.count(), 250u);
  EXPECT_EQ(h.last_quarter.count(), 250u);
  // On schedule: the interval is the schedule's, and the rate achieved is the rate offered.
  EXPECT_DOUBLE_EQ(load_seconds(plan, tally), 1000 * 1000e-9);
  EXPECT_FALSE(judge_load(1e6, 1000 / load_seconds(plan, tally), h).saturated);
}

TEST(LoadLoop, AnEchoOutOfOrderIsCorrupt) {
  ScriptedEcho ch(300ns, kNoStall, 0ns);
  ch.swap_after(10);
  MessageSet ms(64);
  LoadHistograms h;
  LoadTally tally;
  std::atomic<std::uint64_t> progress{0};
  std::uint64_t seq = 0;
  // Period shorter than the service, so messages 10 and 11 are in flight together.
  const LoadPlan plan{.messages = 100, .period_ns = 100, .window = 8};
  const Status st = load_loop(ch, ms, plan, h, tally, progress, seq, [&] { return ch.now(); });
  EXPECT_EQ(st.code, Status::kCorrupt) << st.describe();
}

TEST(LoadLoop, WithoutAScheduleKeepsTheWindowFullAndNeverOverIt) {
  ScriptedEcho ch(1000ns, kNoStall, 0ns);
  MessageSet ms(64);
  LoadHistograms h;
  LoadTally tally;
  std::atomic<std::uint64_t> progress{0};
  std::uint64_t seq = 0;
  const LoadPlan plan{.messages = 1000, .period_ns = 0, .window = 16};
  ASSERT_TRUE(load_loop(ch, ms, plan, h, tally, progress, seq, [&] { return ch.now(); }));
  EXPECT_EQ(tally.received, 1000u);
  EXPECT_EQ(ch.max_in_flight, 16u);
  EXPECT_EQ(h.all.count(), 0u);  // no schedule, no latency from a due time
  EXPECT_EQ(tally.late_sends, 0u);
  // Each echo takes 1 µs and 16 are always in flight: about 16 messages per µs.
  EXPECT_NEAR(1000 / load_seconds(plan, tally), 16e6, 1e6);
}

// Coordinated omission: a stall of D at message k holds up every message behind it. Measured
// from the due time, message k+j waits about D - j × period, so a 200 µs stall at 1 µs per
// message raises some 200 messages out of 2000 — p99 shows it — and the window (64) fills,
// so the sender falls behind its schedule and says so (late_sends).
TEST(LoadLoop, AStallIsChargedToEveryMessageBehindIt) {
  constexpr auto kStall = 200us;
  ScriptedEcho ch(300ns, 500, kStall);
  MessageSet ms(64);
  LoadHistograms h;
  LoadTally tally;
  std::atomic<std::uint64_t> progress{0};
  std::uint64_t seq = 0;
  const LoadPlan plan{.messages = 2000, .period_ns = 1000, .window = 64};
  ASSERT_TRUE(load_loop(ch, ms, plan, h, tally, progress, seq, [&] { return ch.now(); }));
  EXPECT_EQ(tally.received, 2000u);
  const double stall_ns = double(std::chrono::nanoseconds(kStall).count());
  EXPECT_NEAR(h.all.quantile(0.5), 300, 3);  // most messages are not behind the stall
  // 10% of the messages are held up, by D down to 0; the 1% worst by about 180 µs or more.
  EXPECT_GT(h.all.quantile(0.99), stall_ns - 30'000);
  EXPECT_GT(h.all.quantile(0.95), stall_ns / 4);
  EXPECT_NEAR(double(h.all.max()), stall_ns + 300, 0.005 * stall_ns);
  // The window filled 64 messages into the stall; the sends held back from then on were late.
  EXPECT_GT(tally.late_sends, 50u);
  EXPECT_LT(tally.late_sends, 200u);
  // The stall is in the middle, so the quarters do not differ and the row is not saturated.
  EXPECT_FALSE(judge_load(1e6, 2000 / load_seconds(plan, tally), h).saturated);
}

// Offered 1e6/s over a link that carries 4 messages per 10 µs (4e5/s): the sender falls ever
// further behind, and the time limit (twice the 30 ms schedule) ends the sends; what was sent
// is still read, in order, and the row is judged saturated with its latency growing.
TEST(LoadLoop, ALinkTooSlowForTheRateEndsAtTheTimeLimit) {
  ScriptedEcho ch(10us, kNoStall, 0ns);
  MessageSet ms(64);
  LoadHistograms h;
  LoadTally tally;
  std::atomic<std::uint64_t> progress{0};
  std::uint64_t seq = 5;
  const LoadPlan plan = scheduled_plan(30'000, 1e6, 4);
  EXPECT_EQ(plan.time_limit, 60ms);
  ASSERT_TRUE(load_loop(ch, ms, plan, h, tally, progress, seq, [&] { return ch.now(); }));
  EXPECT_TRUE(tally.cut_short);
  EXPECT_NEAR(double(tally.received), 24'000, 300);
  EXPECT_EQ(seq, 5 + tally.received);
  EXPECT_LE(tally.end - tally.start, 60ms + 10us);
  // Short schedules get kMinTimeLimit.
  EXPECT_EQ(scheduled_plan(100, 1e6, 4).time_limit, kMinTimeLimit);
  const double achieved = double(tally.received) / load_seconds(plan, tally);
  EXPECT_NEAR(achieved, 4e5, 1e4);
  const LoadVerdict v = judge_load(1e6, achieved, h);
  EXPECT_TRUE(v.saturated);
  EXPECT_NE(v.label.find("latency grew from"), std::string::npos) << v.label;
}

// ---- the saturation verdict ----

LoadHistograms quarters(double first_ns, double last_ns) {
  LoadHistograms h;
  for (int i = 0; i < 100; ++i) {
    h.first_quarter.record(std::uint64_t(first_ns));
    h.last_quarter.record(std::uint64_t(last_ns));
    h.all.record(std::uint64_t(first_ns));
    h.all.record(std::uint64_t(last_ns));
  }
  return h;
}

TEST(LoadVerdict, LatencyGrowingAcrossTheIntervalIsSaturation) {
  const LoadVerdict v = judge_load(100'000, 99'000, quarters(10'000, 10'000'000));
  EXPECT_TRUE(v.saturated);
  EXPECT_NE(v.label.find("saturated: achieved 99000/s of offered 100000/s"), std::string::npos) << v.label;
  EXPECT_NE(v.label.find("latency grew from 10.0 us to 10.0 ms over the interval"), std::string::npos) << v.label;
}

TEST(LoadVerdict, FallingShortOfTheOfferedRateIsSaturation) {
  const LoadVerdict v = judge_load(100'000, 90'000, quarters(10'000, 10'000));
  EXPECT_TRUE(v.saturated);
  EXPECT_NE(v.label.find("achieved 90000/s of offered 100000/s"), std::string::npos) << v.label;
}

TEST(LoadVerdict, SteadyLatencyAtTheOfferedRateIsNot) {
  EXPECT_FALSE(judge_load(100'000, 99'000, quarters(10'000, 12'000)).saturated);
  // Tripled, but by less than kGrowthFloorNs: jitter in a sub-µs latency, not a backlog.
  const LoadVerdict v = judge_load(100'000, 100'000, quarters(300, 900));
  EXPECT_FALSE(v.saturated);
  EXPECT_TRUE(v.label.empty());
}

TEST(LoadWindow, IsTheSmallerOfTheDepthAndWhatTheLinkGranted) {
  EXPECT_EQ(load_window(64, 16, 64), 16u);
  EXPECT_EQ(load_window(64, 1000, 64), 64u);
  // Unknown (tcp): what 64 KiB holds.
  EXPECT_EQ(load_window(64, std::nullopt, 64), 64u);
  EXPECT_EQ(load_window(64, std::nullopt, 4096), 16u);
  EXPECT_EQ(load_window(64, std::nullopt, 1u << 20), 1u);
}

TEST(LoadFormat, NanosecondsReadAsTheirScale) {
  EXPECT_EQ(format_ns(812), "812 ns");
  EXPECT_EQ(format_ns(14'200), "14.2 us");
  EXPECT_EQ(format_ns(20'400'000), "20.4 ms");
  EXPECT_EQ(format_ns(1.3e9), "1.30 s");
}

}  // namespace
}  // namespace ipcm
