#include "harness/core/histogram.h"

#include <algorithm>
#include <cmath>

namespace ipcm {

std::uint64_t Histogram::bucket_low(std::size_t i) noexcept {
  if (i < kSubBuckets) return i;
  const std::size_t shift = i / kSubBuckets - 1;
  const std::uint64_t sub = i % kSubBuckets;
  return (kSubBuckets + sub) << shift;
}

std::uint64_t Histogram::bucket_width(std::size_t i) noexcept {
  if (i < kSubBuckets) return 1;
  return std::uint64_t(1) << (i / kSubBuckets - 1);
}

double Histogram::quantile(double q) const noexcept {
  if (n_ == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  // Nearest rank: the smallest value with at least ceil(q*n) values at or below it.
  const std::uint64_t rank = std::max<std::uint64_t>(1, std::uint64_t(std::ceil(q * double(n_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const double mid = double(bucket_low(i)) + double(bucket_width(i) - 1) / 2.0;
      return std::clamp(mid, double(min_), double(max_));
    }
  }
  return double(max_);
}

void Histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  n_ = sum_ = max_ = 0;
  min_ = UINT64_MAX;
}

void Histogram::merge(const Histogram& o) noexcept {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
  n_ += o.n_;
  sum_ += o.sum_;
  max_ = std::max(max_, o.max_);
  min_ = std::min(min_, o.min_);
}

}  // namespace ipcm
