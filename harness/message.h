// The message format every workload uses. Each message starts with a header the receiver
// verifies: a sequence number (so loss and reordering show) and a checksum over the whole
// message (so corruption shows). `size` in benchmark names counts the header too.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "harness/buffer.h"
#include "harness/limits.h"
#include "harness/status.h"
#include "harness/transport.h"

namespace ipcm {

enum class MsgKind : std::uint32_t { kData = 0, kStop = 1, kAck = 2 };

struct MsgHeader {
  std::uint32_t seq_kind;  // kind in the top two bits, sequence number (mod 2^30) below
  std::uint32_t checksum;  // payload hash folded with seq_kind
};
static_assert(sizeof(MsgHeader) == kMinMessageBytes);

inline constexpr std::uint32_t kSeqBits = 30;
inline constexpr std::uint32_t kSeqMask = (1u << kSeqBits) - 1;

inline std::uint32_t pack_seq(MsgKind k, std::uint64_t seq) noexcept {
  return (std::uint32_t(k) << kSeqBits) | (std::uint32_t(seq) & kSeqMask);
}
inline MsgKind kind_of(std::uint32_t seq_kind) noexcept { return MsgKind(seq_kind >> kSeqBits); }

// A position-dependent 64-bit hash of the payload, fast enough (several bytes per cycle) to
// run on every message without hiding the transport's own cost.
std::uint64_t payload_hash(const std::byte* p, std::size_t n) noexcept;

inline std::uint32_t fold_checksum(std::uint64_t payload, std::uint32_t seq_kind) noexcept {
  std::uint64_t h = (payload ^ (std::uint64_t(seq_kind) * 0x9E3779B97F4A7C15ull));
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return std::uint32_t(h);
}

// Verifies a received message: its size, kind, sequence number and checksum.
Status verify_message(Bytes msg, std::size_t size, MsgKind kind, std::uint64_t seq) noexcept;

// The sender's messages, built before the timed loop: a few payload patterns with their
// hashes precomputed, so that stamping a message costs two stores.
class MessageSet {
 public:
  explicit MessageSet(std::size_t size, std::uint64_t salt = 0);
  std::size_t size() const noexcept { return size_; }

  // The message with this kind and sequence number, stamped in place.
  Bytes stamp(MsgKind kind, std::uint64_t seq) noexcept {
    const std::size_t slot = seq % kPatterns;
    std::byte* m = buf_.data() + slot * stride_;
    const std::uint32_t sk = pack_seq(kind, seq);
    const MsgHeader h{sk, fold_checksum(hashes_[slot], sk)};
    std::memcpy(m, &h, sizeof h);
    return {m, size_};
  }

 private:
  static constexpr std::size_t kPatterns = 4;
  std::size_t size_;
  std::size_t stride_;
  AlignedBuffer buf_;
  std::array<std::uint64_t, kPatterns> hashes_{};
};

}  // namespace ipcm
