// Cache-line aligned, zero-initialised byte buffers: the harness allocates them before a
// timed loop and never inside one.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "harness/core/limits.h"

namespace ipcm {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t bytes)
      : size_(bytes), p_(static_cast<std::byte*>(std::aligned_alloc(kCacheLine, rounded(bytes)))) {
    if (!p_) throw std::bad_alloc();
    std::memset(p_.get(), 0, rounded(bytes));
  }
  std::byte* data() const noexcept { return p_.get(); }
  std::size_t size() const noexcept { return size_; }

 private:
  static std::size_t rounded(std::size_t n) { return (n + kCacheLine - 1) / kCacheLine * kCacheLine + kCacheLine; }
  struct Free {
    void operator()(std::byte* p) const noexcept { std::free(p); }
  };
  std::size_t size_ = 0;
  std::unique_ptr<std::byte, Free> p_;
};

}  // namespace ipcm
