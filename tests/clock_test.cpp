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

std::uint64_t mono_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

TEST(BusyLoop, RateIsMeasuredOnce) {
  const double per_ns = busy_loop_per_ns();
  EXPECT_GT(per_ns, 0.0);
  EXPECT_TRUE(std::isfinite(per_ns));
  EXPECT_EQ(busy_loop_per_ns(), per_ns);
}

TEST(BusyLoop, DelayLastsAtLeastAboutWhatWasAsked) {
  const auto iterations = std::uint64_t(std::llround(kAskedNs * busy_loop_per_ns()));
  const std::uint64_t t0 = mono_now_ns();
  busy_loop(iterations);
  const double took = double(mono_now_ns() - t0);
  EXPECT_GE(took, kShortestShare * kAskedNs) << iterations << " iterations";
}

TEST(BusyLoop, ZeroIterationsIsNoDelay) {
  const std::uint64_t t0 = mono_now_ns();
  busy_loop(0);
  EXPECT_LT(mono_now_ns() - t0, std::uint64_t(kAskedNs));
}

}  // namespace
}  // namespace ipcm
