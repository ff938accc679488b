// The harness's clock. Round trips are timed one by one, so a timer read must cost a few
// nanoseconds: on x86 with an invariant TSC that is rdtsc, calibrated once against
// CLOCK_MONOTONIC; elsewhere it falls back to clock_gettime through the vDSO.
#pragma once

#include <cstdint>
#include <ctime>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define IPCM_HAVE_TSC 1
#else
#define IPCM_HAVE_TSC 0
#endif

namespace ipcm {

class TickClock {
 public:
  // Calibrates on first use (about 20 ms); thread-safe afterwards.
  static const TickClock& get();
  // A spawned peer takes its parent's calibration instead of spending 20 ms on its own.
  static void adopt(double ns_per_tick);

  static inline std::uint64_t now() noexcept {
#if IPCM_HAVE_TSC
    if (use_tsc_) return __rdtsc();
#endif
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
  }

  double ns_per_tick() const noexcept { return ns_per_tick_; }
  double to_ns(std::uint64_t ticks) const noexcept { return double(ticks) * ns_per_tick_; }
  // Fixed-point conversion for the hot path: (ticks * mult) >> 32.
  std::uint64_t to_ns_fast(std::uint64_t ticks) const noexcept {
    return std::uint64_t((unsigned __int128)ticks * mult_ >> 32);
  }
  const char* source() const noexcept { return use_tsc_ ? "tsc" : "clock_gettime"; }

 private:
  TickClock();
  static inline bool use_tsc_ = false;
  static inline double adopted_ = 0;
  double ns_per_tick_ = 1.0;
  std::uint64_t mult_ = 1ull << 32;
};

// A busy delay counted in loop iterations instead of timer reads. On a VM one TSC read
// can cost 10 ns, so a spin that reads the clock cannot add 15 ns to a 150 ns round trip;
// this loop has no reads, and its cost is whatever busy_loop_per_ns() says.
inline void busy_loop(std::uint64_t iterations) noexcept {
  // The asm hides the counter from the optimiser, which would otherwise delete the loop.
  for (std::uint64_t i = 0; i < iterations; ++i) asm volatile("" : "+r"(i));
}

// busy_loop iterations per ns on this CPU, timed now (10 to 20 ms).
double time_busy_loop_rate();
// time_busy_loop_rate() of the first call, kept: every delay of a run uses one rate.
double busy_loop_per_ns();

// CPU time of the calling thread, in ns.
std::uint64_t thread_cpu_ns() noexcept;
// CPU time read from a clock id (another thread's or process's), in ns; 0 if unreadable.
std::uint64_t cpu_ns_of(clockid_t clk) noexcept;

}  // namespace ipcm
