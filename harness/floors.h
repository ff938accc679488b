// The floors: what the hardware itself costs, measured at the start and the end of a run.
// A transport's round trip is judged against a bare cache-line round trip between the same
// two CPUs, its bandwidth against one core's memcpy, so a result says how far above the
// machine's own limit it is, and a floor that moved during the run says the machine changed.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/env.h"
#include "harness/limits.h"

namespace ipcm {

// Small enough to stay in L2 on anything current, large enough that call overhead is noise.
inline constexpr std::size_t kCacheProbeBytes = 64u << 10;

// A probe that could not run (pinning refused, no memory) is nullopt, serialised as null.
struct Floors {
  std::optional<double> c2c_rtt_ns;
  std::optional<double> memcpy_gbps_cache;
  std::optional<double> memcpy_gbps_dram;
  std::optional<double> syscall_ns;
  std::optional<double> timer_ns;
  // The smallest step the tick clock takes (on AMD hosts the TSC moves in steps of ~10 ns):
  // round trips are quantised to it.
  std::optional<double> timer_resolution_ns;
  // Every size memcpy_gbps() was asked for so far: the references ratio_to_memcpy used.
  std::map<std::size_t, double> memcpy_gbps_by_size;
};

// All five probes on the placement's CPUs; the caller's affinity is restored afterwards.
// Takes well under a second; the DRAM probe dominates.
Floors measure_floors(const Placement& p);

// Median core-to-core cache-line round trip in ns, the calling thread pinned to cpu_a and a
// partner to cpu_b. cpu_a == cpu_b measures two context switches instead. NaN if either
// thread cannot be pinned.
double c2c_rtt_ns(int cpu_a, int cpu_b);

// One core's memcpy bandwidth between two hot buffers of `bytes` each, GB/s (1e9 bytes/s).
// Measured once per size (about 5-10 ms, more for DRAM sizes) and cached, so repeated calls
// are free. NaN if the buffers cannot be allocated or bytes is 0.
double memcpy_gbps(std::size_t bytes);

// Sizes measured by memcpy_gbps() (and measure_floors) so far, with their results.
std::map<std::size_t, double> memcpy_sizes_measured();

// Per-buffer size of the DRAM probe: max(4 x L3, 64 MiB), both buffers together capped at
// 1/8 of MemAvailable.
std::size_t dram_probe_bytes();

// Keys c2c_rtt_ns, memcpy_gbps_cache, memcpy_gbps_dram, syscall_ns, timer_ns (null when the
// probe could not run) and memcpy_gbps_by_size (decimal-string keys).
nlohmann::json to_json(const Floors& f);

// One sentence per floor whose relative change |end - start| / start exceeds limit.
std::vector<std::string> drift_warnings(const Floors& start, const Floors& end, double limit);

// One cache line bounced between the calling thread and a partner thread pinned to another
// CPU. The c2c floor and the floor/probe:c2c_rtt benchmark share it so both measure the
// same protocol: the caller writes an odd value, the partner answers with the next even one.
class CacheLineBouncer {
 public:
  // Starts the partner pinned to peer_cpu and waits until it runs. share_cpu: both threads
  // are on one CPU, so waiting must yield, or each wait spins out a whole time slice.
  CacheLineBouncer(int peer_cpu, bool share_cpu);
  ~CacheLineBouncer();  // stops and joins the partner
  CacheLineBouncer(const CacheLineBouncer&) = delete;
  CacheLineBouncer& operator=(const CacheLineBouncer&) = delete;

  bool ok() const noexcept { return state_.load(std::memory_order_acquire) == kRunning; }
  // Why the partner is not running; static text without quotes or backslashes.
  const char* error() const noexcept { return error_; }

  // Caller side only; requires ok().
  void round_trip() noexcept {
    line_.store(next_, std::memory_order_release);
    while (line_.load(std::memory_order_acquire) != next_ + 1) wait_a_little();
    next_ += 2;
  }

 private:
  enum State : int { kStarting, kRunning, kFailed };
  void partner(int cpu) noexcept;
  void wait_a_little() const noexcept {
    if (share_cpu_) {
      sched_yield();
    } else {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }

  // The bounced line alone in its cache line, so only the round trip moves it.
  alignas(kCacheLine) std::atomic<std::uint64_t> line_{0};
  // Read by the partner only while it waits, kept off the bounced line.
  alignas(kCacheLine) std::atomic<bool> stop_{false};
  alignas(kCacheLine) std::uint64_t next_ = 1;
  bool share_cpu_;
  std::atomic<int> state_{kStarting};
  const char* error_ = "";
  std::thread thread_;
};

}  // namespace ipcm
