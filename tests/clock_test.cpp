// The busy loop behind --calibration_delay_ns: it is timed, it is not optimised away, and a
// delay asked for in ns lasts at least about that long. The loop's rate is the fastest of
// its timed runs, so a delay can come out longer than asked (a preemption) but not much
// shorter; only that direction is checked, with room for a CPU that speeds up later.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "harness/clock.h"

namespace ipcm {
namespace {

constexpr double kAskedNs = 5e6;
constexpr double kShortestShare = 0.5;

double ns_since(std::uint64_t t0) { return TickClock::get().to_ns(TickClock::now() - t0); }

TEST(BusyLoop, RateIsMeasuredOnce) {
  const double per_ns = busy_loop_per_ns();
  EXPECT_GT(per_ns, 0.0);
  EXPECT_TRUE(std::isfinite(per_ns));
  EXPECT_EQ(busy_loop_per_ns(), per_ns);
}

TEST(BusyLoop, DelayLastsAtLeastAboutWhatWasAsked) {
  const auto iterations = std::uint64_t(std::llround(kAskedNs * busy_loop_per_ns()));
  const std::uint64_t t0 = TickClock::now();
  busy_loop(iterations);
  EXPECT_GE(ns_since(t0), kShortestShare * kAskedNs) << iterations << " iterations";
}

TEST(BusyLoop, ZeroIterationsIsNoDelay) {
  const std::uint64_t t0 = TickClock::now();
  busy_loop(0);
  EXPECT_LT(ns_since(t0), kAskedNs);
}

}  // namespace
}  // namespace ipcm
