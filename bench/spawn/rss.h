// The spawn family's ballast: resident memory the parent holds while it starts workers, so
// that the cost of fork can be seen growing with the parent's size. Pages are written, not
// just reserved: an untouched page costs fork nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "harness/core/status.h"

namespace ipcm {

inline constexpr std::size_t kMiB = std::size_t(1) << 20;
// Memory left for everything else (the suite, other users of the machine, the pages a
// copy-on-write measurement copies) when deciding whether a ballast fits.
inline constexpr std::uint64_t kBallastHeadroomBytes = std::uint64_t(1) << 30;
// The first write to at most this many inherited pages is timed for the copy-on-write price.
inline constexpr std::size_t kCowPagesMax = 16384;

// /proc/meminfo MemAvailable and /proc/self/status VmRSS, in bytes; nullopt if unreadable.
std::optional<std::uint64_t> mem_available_bytes();
std::optional<std::uint64_t> resident_bytes();

// "" when a ballast of `mib` MiB may be made with `available` bytes free, else why not.
std::string ballast_refusal(std::size_t mib, std::optional<std::uint64_t> available);

class Ballast {
 public:
  // Maps `mib` MiB of private anonymous memory in 4 KiB pages and writes every page. Refused
  // (with the reason) when the size is 0 or does not fit in MemAvailable with headroom.
  static Made<Ballast> make(std::size_t mib);
  ~Ballast();
  Ballast(const Ballast&) = delete;
  Ballast& operator=(const Ballast&) = delete;
  std::byte* data() const noexcept { return p_; }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t pages() const noexcept { return bytes_ / page_; }
  std::size_t page_bytes() const noexcept { return page_; }

 private:
  Ballast() = default;
  std::byte* p_ = nullptr;
  std::size_t bytes_ = 0;
  std::size_t page_ = 4096;
};

// The copy-on-write price: forks a child that writes one byte into each of up to
// kCowPagesMax inherited pages of the ballast and reports ns per page. Needs a fork-safe
// (single-threaded) caller.
Status measure_cow_ns_per_page(const Ballast& b, double& ns_per_page, std::string& why);

}  // namespace ipcm
