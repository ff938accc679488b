// The load family's workload: an open-loop sender. Messages are due on a fixed schedule
// (message i at t0 + i × period) whatever the replies do; the peer echoes each one; a message's
// latency runs from when it was DUE to when its echo has been read, so a stall charges every
// message it held up, not only the one it hit (coordinated omission corrected, as wrk2 and
// HdrHistogram do it). One thread sends and receives: between sends it waits for a reply with
// a deadline (Channel::recv_until) at the next send's due time. At most `window` messages are
// in flight (sent, echo not read), so neither direction of the link can fill up and leave the
// peer blocked writing echoes while this side is blocked writing requests.
// The harness owns the clock and the buffers: nothing here allocates, logs or locks inside
// the loop; the histograms are made before it.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "bench/pingpong/pingpong.h"
#include "harness/core/histogram.h"
#include "harness/core/message.h"
#include "harness/transports/transport.h"

namespace ipcm {

// A send that leaves more than this after its due time is a schedule slip (late_sends). Above
// a timer's ordinary wake-up lateness on a VM (a few µs once timer slack is 1 ns), far below a
// scheduler time slice (ms), so it counts the sender being held up, not the clock's grain.
inline constexpr std::chrono::nanoseconds kLateTolerance = std::chrono::microseconds(20);
// How long before a due time the sender stops sleeping and polls for replies instead.
inline constexpr std::chrono::nanoseconds kWakeEarly = std::chrono::microseconds(200);

// The window when the link cannot say what it holds (tcp): as many messages as surely fit in
// one direction of a socket's default buffer.
inline constexpr std::size_t kUnknownWindowBytes = 64u << 10;

// What one interval sends.
struct LoadPlan {
  std::uint64_t messages = 0;  // sent, echoed and read back
  double period_ns = 0;        // between due times; 0: no schedule, send whenever the window allows
  std::size_t window = 1;      // the most messages in flight
  std::chrono::nanoseconds late_tolerance = kLateTolerance;
  // No message is sent after this long from the first due time (0: no limit); those in flight
  // are still read. A link far slower than the rate planned for (its saturation measured in
  // a better moment than the row's) then ends the row in bounded time, short of what was
  // offered, instead of running messages / achieved rate.
  std::chrono::nanoseconds time_limit{0};
};

// A scheduled plan: `messages` at `per_second`, ended at twice its schedule's length (at
// least kMinTimeLimit), by when a link that keeps up has long finished.
inline constexpr std::chrono::nanoseconds kMinTimeLimit = std::chrono::milliseconds(50);
inline LoadPlan scheduled_plan(std::uint64_t messages, double per_second, std::size_t window) {
  const double period_ns = 1e9 / per_second;
  const auto limit = std::chrono::nanoseconds(std::int64_t(2 * double(messages) * period_ns));
  return {.messages = messages, .period_ns = period_ns, .window = window, .time_limit = std::max(limit, kMinTimeLimit)};
}

// The latencies of one interval (ns, due time to echo read), made before the loop. The first
// and last quarters' are kept apart too, to see latency growing across the interval.
struct LoadHistograms {
  Histogram all, first_quarter, last_quarter;
};

// What the interval did.
struct LoadTally {
  std::uint64_t received = 0;
  std::uint64_t late_sends = 0;
  bool cut_short = false;     // the time limit stopped the sends before plan.messages
  Clock::time_point start{};  // the first message's due time
  Clock::time_point end{};    // when the last echo had been read
};

// The window a link really offers one direction: the config's depth, lowered to what the
// system granted (Link::window_msgs), or to kUnknownWindowBytes' worth when it cannot tell.
inline std::size_t load_window(std::size_t depth, std::optional<std::size_t> link_window, std::size_t msg_bytes) {
  const std::size_t granted = link_window ? *link_window : std::max<std::size_t>(1, kUnknownWindowBytes / msg_bytes);
  return std::max<std::size_t>(1, std::min(depth, granted));
}

// The most messages in flight, and what each direction is asked to hold (ChannelConfig::depth):
// twice that. A pipe holds whole pages and appends a small write only to its last page, so a
// pipe of one page (64 messages of 64 B) can be full with a few messages unread: the sender
// then blocks in write while the echoing peer blocks writing back to it, and neither reads
// (seen: pipe rows at 90% and 100% ended "peer stopped answering"; under ASan, the pipe and
// fifo links of the recv_until test). With room for two windows, a direction always has a free
// page before the window is full.
inline constexpr std::size_t kLoadWindow = kStreamWindow;
inline constexpr std::size_t kLoadDepth = 2 * kLoadWindow;

// The window of a load row on a link asked for kLoadDepth: half of what the link granted.
inline std::size_t load_link_window(std::optional<std::size_t> granted, std::size_t msg_bytes) {
  if (granted) granted = std::max<std::size_t>(1, *granted / 2);
  return load_window(kLoadWindow, granted, msg_bytes);
}

// Runs one interval: plan.messages messages (fewer if the time limit ends it) numbered from
// `seq` (the peer checks that they follow on), each echo checked; `seq` ends past the last. `now` is the clock (steady; a test
// passes a scripted one). Scheduled plans record latencies into `h`; the unscheduled one
// (saturation) records none.
template <class Now>
Status load_loop(Channel& ch, MessageSet& ms, const LoadPlan& plan, LoadHistograms& h, LoadTally& tally,
                 std::atomic<std::uint64_t>& progress, std::uint64_t& seq, Now&& now) noexcept {
  const std::uint64_t seq0 = seq;
  const bool scheduled = plan.period_ns > 0;
  const std::uint64_t first_end = plan.messages / 4, last_begin = plan.messages - plan.messages / 4;
  const Clock::time_point t0 = now();
  // Computed, not stored: message i is due at t0 + i × period.
  auto due = [&](std::uint64_t i) {
    return t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(std::int64_t(double(i) * plan.period_ns)));
  };
  tally = LoadTally{.start = t0, .end = t0};
  const Clock::time_point stop_at =
      plan.time_limit.count() > 0 ? t0 + std::chrono::duration_cast<Clock::duration>(plan.time_limit) : Clock::time_point::max();
  std::uint64_t sent = 0, got = 0, last = plan.messages;
  while (got < last) {
    Bytes reply;
    Status st;
    if (sent < last && sent - got < plan.window) {
      const Clock::time_point when = scheduled ? due(sent) : t0;
      const Clock::time_point t = now();
      if (t >= stop_at) {
        last = sent;
        tally.cut_short = true;
        continue;
      }
      if (t >= when) {
        if (scheduled && t - when > plan.late_tolerance) ++tally.late_sends;
        if (Status s = ch.send(ms.stamp(MsgKind::kData, seq0 + sent)); !s) return s;
        ++sent;
        continue;
      }
      // Not due yet: take a reply if one comes before it is. The sender sleeps only until
      // kWakeEarly before the due time and then polls, so its own wake-up from a timed sleep
      // (tens to hundreds of µs on a VM whose vCPU went idle) is not charged to the link.
      st = ch.recv_until(reply, t + kWakeEarly < when ? when - kWakeEarly : t);
      if (st.timed_out()) continue;
    } else {
      // Everything sent, or the window is full: only a reply lets the loop go on.
      st = ch.recv(reply);
    }
    if (!st) return st;
    consume(reply);
    const Clock::time_point t = now();
    if (Status s = verify_message(reply, ms.size(), MsgKind::kData, seq0 + got); !s) return s;
    if (scheduled) {
      const auto late = std::chrono::duration_cast<std::chrono::nanoseconds>(t - due(got)).count();
      const std::uint64_t ns = late > 0 ? std::uint64_t(late) : 0;
      h.all.record(ns);
      if (got < first_end) h.first_quarter.record(ns);
      if (got >= last_begin) h.last_quarter.record(ns);
    }
    ++got;
    progress.store(seq0 + got, std::memory_order_relaxed);
    tally.end = t;
  }
  tally.received = got;
  seq = seq0 + got;
  return Status::Ok();
}

// The interval's length for achieved_per_second: from the first due time to the last echo
// read, never shorter than the schedule of the messages it carried (received × period), so
// a sender on schedule achieves exactly what was offered and never more.
double load_seconds(const LoadPlan& plan, const LoadTally& tally);

// Whether an interval ran past what the link can carry. Beyond saturation the backlog, and
// with it the latency from the due time, grows for as long as the interval lasts: its
// percentiles describe the interval's length, not the transport. Either sign says so:
//  - fewer messages per second came back than were offered (below kAchievedShare of it);
//  - the last quarter's median latency (the largest latency when the time limit ended the
//    interval before its last quarter) is over kGrowthFactor × the first quarter's, and by
//    more than kGrowthFloorNs (so jitter in a µs-scale latency does not count as growth).
inline constexpr double kAchievedShare = 0.95;
inline constexpr double kGrowthFactor = 2.0;
inline constexpr double kGrowthFloorNs = 50'000;

struct LoadVerdict {
  bool saturated = false;
  double first_p50_ns = 0, last_p50_ns = 0;
  // "saturated: achieved X/s of offered Y/s; latency grew from A to B over the interval", or "".
  std::string label;
};
LoadVerdict judge_load(double offered_per_second, double achieved_per_second, const LoadHistograms& h);

// "812 ns", "14.2 us", "20.4 ms", "1.30 s".
std::string format_ns(double ns);

}  // namespace ipcm
