#include "harness/clock.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>

namespace ipcm {
namespace {

std::uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

// The TSC is only a clock when it ticks at a constant rate in every power state and is
// synchronised across CPUs; Linux says so by choosing it as the clocksource, and the CPU by
// the constant_tsc/nonstop_tsc flags.
bool tsc_is_trustworthy() {
#if IPCM_HAVE_TSC
  std::ifstream cs("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string source;
  if (!(cs >> source) || source != "tsc") return false;
  std::ifstream info("/proc/cpuinfo");
  std::string line;
  while (std::getline(info, line)) {
    if (line.rfind("flags", 0) == 0) {
      return line.find(" constant_tsc") != std::string::npos &&
             line.find(" nonstop_tsc") != std::string::npos;
    }
  }
#endif
  return false;
}

}  // namespace

TickClock::TickClock() {
  use_tsc_ = tsc_is_trustworthy();
  if (!use_tsc_) return;
  if (adopted_ > 0) {
    ns_per_tick_ = adopted_;
    mult_ = std::uint64_t(adopted_ * 4294967296.0);
    return;
  }
  // Calibrate over ~20 ms; take the best of three windows so a preemption in one does not skew it.
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t t0 = mono_ns();
    const std::uint64_t c0 = __rdtsc();
    while (mono_ns() - t0 < 7'000'000) {
    }
    const std::uint64_t t1 = mono_ns();
    const std::uint64_t c1 = __rdtsc();
    const double npt = double(t1 - t0) / double(c1 - c0);
    if (best == 0 || npt < best) best = npt;
  }
  ns_per_tick_ = best;
  mult_ = std::uint64_t(best * 4294967296.0);
}

void TickClock::adopt(double ns_per_tick) {
  adopted_ = ns_per_tick;
  get();
}

const TickClock& TickClock::get() {
  static const TickClock clock;
  return clock;
}

double busy_loop_per_ns() {
  static const double per_ns = [] {
    constexpr std::uint64_t kIterations = 10'000'000;
    // The fastest of a few runs: a preemption only makes a run look slower.
    double best = 0;
    for (int i = 0; i < 3; ++i) {
      const std::uint64_t t0 = mono_ns();
      busy_loop(kIterations);
      const std::uint64_t ns = mono_ns() - t0;
      if (ns > 0) best = std::max(best, double(kIterations) / double(ns));
    }
    return best;
  }();
  return per_ns;
}

std::uint64_t thread_cpu_ns() noexcept { return cpu_ns_of(CLOCK_THREAD_CPUTIME_ID); }

std::uint64_t cpu_ns_of(clockid_t clk) noexcept {
  timespec ts;
  if (clock_gettime(clk, &ts) != 0) return 0;
  return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

}  // namespace ipcm
