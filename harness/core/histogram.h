// A log-linear histogram of nanosecond values, in the manner of HdrHistogram: each power of
// two is split into kSubBuckets linear buckets, so a reported percentile is within
// 1/(2*kSubBuckets) = 0.4% of the true value. Recording is a few instructions and never
// allocates; the counters are allocated once, when the histogram is made.
#pragma once

#include <bit>
#include <cstdint>
#include <vector>

namespace ipcm {

class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr std::uint64_t kSubBuckets = 1u << kSubBits;
  static constexpr int kOctaves = 64 - kSubBits;

  Histogram() : counts_(std::size_t(kOctaves + 1) * kSubBuckets, 0) {}

  void record(std::uint64_t v) noexcept {
    ++counts_[index_of(v)];
    ++n_;
    sum_ += v;
    if (v > max_) max_ = v;
    if (v < min_) min_ = v;
  }

  std::uint64_t count() const noexcept { return n_; }
  std::uint64_t max() const noexcept { return n_ ? max_ : 0; }
  std::uint64_t min() const noexcept { return n_ ? min_ : 0; }
  double mean() const noexcept { return n_ ? double(sum_) / double(n_) : 0.0; }
  // The value at quantile q in [0, 1] (nearest rank), as the midpoint of its bucket clamped
  // to the recorded min and max; 0 when empty.
  double quantile(double q) const noexcept;
  void reset() noexcept;
  void merge(const Histogram& other) noexcept;

  // Exposed for tests: the bucket a value falls in, and that bucket's bounds [lo, hi).
  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < kSubBuckets) return std::size_t(v);
    const int msb = 63 - std::countl_zero(v);
    const int shift = msb - kSubBits;
    const std::uint64_t sub = (v >> shift) - kSubBuckets;
    return std::size_t(shift + 1) * kSubBuckets + std::size_t(sub);
  }
  static std::uint64_t bucket_low(std::size_t i) noexcept;
  static std::uint64_t bucket_width(std::size_t i) noexcept;

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t n_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = UINT64_MAX;
};

}  // namespace ipcm
