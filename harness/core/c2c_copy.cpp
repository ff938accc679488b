#include "harness/core/c2c_copy.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <optional>
#include <system_error>
#include <thread>

#include "harness/core/buffer.h"
#include "harness/core/clock.h"
#include "harness/core/env.h"
#include "harness/core/limits.h"

namespace ipcm {
namespace {

constexpr int kBatches = 11;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// As many messages as a stream's ring holds: the window, within the link memory budget.
std::size_t messages_per_batch(std::size_t bytes) {
  return std::clamp(kLinkBytesBudget / bytes, kMinLinkSlots, kStreamWindow);
}

// The writer: on each request, writes every byte of the window with a new value, so every
// line is modified in its cache when the reader starts.
class Writer {
 public:
  Writer(std::byte* window, std::size_t bytes, int cpu) : window_(window), bytes_(bytes) {
    try {
      thread_ = std::thread([this, cpu] { run(cpu); });
    } catch (const std::system_error&) {
      done_.store(kFailed);
      return;
    }
    done_.wait(kStarting, std::memory_order_acquire);
  }
  ~Writer() {
    if (!thread_.joinable()) return;
    request_.store(kQuit, std::memory_order_release);
    request_.notify_one();
    thread_.join();
  }
  bool ok() const noexcept { return done_.load(std::memory_order_acquire) != kFailed; }
  // Returns once the writer has written the whole window for batch `gen` (gen >= 1).
  void fill(std::uint64_t gen) noexcept {
    request_.store(gen, std::memory_order_release);
    request_.notify_one();
    // wait() must be given the value just compared: reloading it could pick up gen itself
    // and then sleep waiting for it to change, for ever.
    for (std::uint64_t seen; (seen = done_.load(std::memory_order_acquire)) != gen;)
      done_.wait(seen, std::memory_order_acquire);
  }

 private:
  static constexpr std::uint64_t kStarting = ~0ull, kFailed = ~0ull - 1, kQuit = ~0ull - 2;
  void run(int cpu) noexcept {
    if (!pin_this_thread(cpu)) {
      done_.store(kFailed, std::memory_order_release);
      done_.notify_one();
      return;
    }
    done_.store(0, std::memory_order_release);
    done_.notify_one();
    std::uint64_t served = 0;
    for (;;) {
      request_.wait(served, std::memory_order_acquire);
      const std::uint64_t gen = request_.load(std::memory_order_acquire);
      if (gen == kQuit) return;
      std::memset(window_, int(gen & 0xff) | 1, bytes_);
      served = gen;
      done_.store(gen, std::memory_order_release);
      done_.notify_one();
    }
  }
  std::byte* window_;
  std::size_t bytes_;
  alignas(kCacheLine) std::atomic<std::uint64_t> request_{0};
  alignas(kCacheLine) std::atomic<std::uint64_t> done_{kStarting};
  std::thread thread_;
};

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::size_t, double>& cache() {
  static std::map<std::size_t, double> c;
  return c;
}

}  // namespace

double measure_c2c_copy_gbps(std::size_t bytes, int reader_cpu, int writer_cpu) {
  if (bytes == 0) return kNaN;
  const TickClock& clock = TickClock::get();
  const ScopedPin pin(reader_cpu);
  if (!pin.ok()) return kNaN;
  const std::size_t messages = messages_per_batch(bytes);
  std::optional<AlignedBuffer> window, dst;
  try {
    window.emplace(messages * bytes);  // zero-filled: every page faulted in before timing
    dst.emplace(bytes);
  } catch (const std::bad_alloc&) {
    return kNaN;
  }
  Writer writer(window->data(), messages * bytes, writer_cpu);
  if (!writer.ok()) return kNaN;
  std::array<double, kBatches> gbps{};
  std::byte* to = dst->data();
  for (int b = 0; b < kBatches + 1; ++b) {
    writer.fill(std::uint64_t(b) + 1);
    const std::uint64_t t0 = TickClock::now();
    for (std::size_t m = 0; m < messages; ++m) {
      std::memcpy(to, window->data() + m * bytes, bytes);
      asm volatile("" : : "r"(to) : "memory");  // each copy really happens
    }
    const double ns = clock.to_ns(TickClock::now() - t0);
    if (b > 0) gbps[std::size_t(b - 1)] = double(messages * bytes) / std::max(ns, 1.0);  // batch 0 warms up
  }
  std::nth_element(gbps.begin(), gbps.begin() + kBatches / 2, gbps.end());
  const double median = gbps[kBatches / 2];
  const std::lock_guard lock(cache_mutex());
  if (std::isfinite(median) && median > 0) cache().emplace(bytes, median);
  return median;
}

double c2c_copy_gbps(std::size_t bytes, int reader_cpu, int writer_cpu) {
  {
    const std::lock_guard lock(cache_mutex());
    if (const auto it = cache().find(bytes); it != cache().end()) return it->second;
  }
  return measure_c2c_copy_gbps(bytes, reader_cpu, writer_cpu);
}

std::map<std::size_t, double> c2c_copy_sizes_measured() {
  const std::lock_guard lock(cache_mutex());
  return cache();
}

}  // namespace ipcm
