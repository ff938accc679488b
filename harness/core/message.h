// The message format every workload uses. Each message starts with a header the receiver
// verifies: a sequence number (so loss and reordering show) and a checksum over the payload
// folded with that number (so corruption shows). It ends with a trailer, a copy of the
// header's sequence word, so a slot whose header is fresh but whose payload is from an
// earlier message shows too. `size` in benchmark names counts the header and the trailer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "harness/core/buffer.h"
#include "harness/core/limits.h"
#include "harness/core/status.h"
#include "harness/transports/transport.h"

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

// Where the trailer (a copy of seq_kind) sits: the message's last four bytes. A message too
// short to hold it apart from the header (under 12 bytes) has its header's own seq_kind
// there, so stamping and checking need no branch on the size.
inline constexpr std::size_t kTrailerBytes = sizeof(std::uint32_t);
constexpr std::size_t trailer_offset(std::size_t size) noexcept {
  return size >= sizeof(MsgHeader) + kTrailerBytes ? size - kTrailerBytes : 0;
}
// The payload the checksum covers: the bytes between the header and the trailer.
constexpr std::size_t hashed_bytes(std::size_t size) noexcept {
  return (trailer_offset(size) != 0 ? trailer_offset(size) : size) - sizeof(MsgHeader);
}

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

// Verifies a received message: its size, kind, sequence number, trailer and checksum.
Status verify_message(Bytes msg, std::size_t size, MsgKind kind, std::uint64_t seq) noexcept;

// The sender's messages, built before the timed loop: a few payload patterns with their
// hashes precomputed, so that stamping a message costs two stores (header and trailer).
//
// A slot reused a lap too early must not pass. A whole stale slot carries an old sequence
// number; a fresh header over a stale payload carries an old trailer. What is left is a
// torn read, fresh at both ends and stale in the middle (as a memcpy that stores the ends
// first can leave it): that middle differs from the fresh one only if the two messages use
// different patterns. Message seq uses pattern seq % patterns(), an odd prime, so the stale
// message seq - depth has another pattern for every power-of-two depth and for any depth
// that is not a multiple of the count. The count is the largest that keeps the patterns
// within kPatternBytesBudget (a quarter of a small L1), and never below 3; more would move
// the sender's source out of cache and change what the benchmark measures.
class MessageSet {
 public:
  explicit MessageSet(std::size_t size, std::uint64_t salt = 0);
  std::size_t size() const noexcept { return size_; }
  std::size_t patterns() const noexcept { return patterns_; }

  // The message with this kind and sequence number, stamped in place.
  Bytes stamp(MsgKind kind, std::uint64_t seq) noexcept {
    const std::size_t p = pattern_of(seq);
    std::byte* m = buf_.data() + p * stride_;
    const std::uint32_t sk = pack_seq(kind, seq);
    const MsgHeader h{sk, fold_checksum(hashes_[p], sk)};
    std::memcpy(m, &h, sizeof h);
    std::memcpy(m + trailer_at_, &sk, sizeof sk);
    return {m, size_};
  }

  static constexpr std::size_t kMaxPatterns = 61;
  static constexpr std::size_t kPatternBytesBudget = 8u << 10;

 private:
  // seq % patterns_ without a division (tens of cycles, inside the stream loop): Lemire's
  // fastmod, exact for 32-bit numerators, so the cycle restarts every 2^32 messages.
  std::size_t pattern_of(std::uint64_t seq) const noexcept {
    const std::uint64_t low = mod_mul_ * std::uint32_t(seq);
    return std::size_t((unsigned __int128)low * patterns_ >> 64);
  }

  std::size_t size_;
  std::size_t stride_;
  std::size_t trailer_at_;
  std::size_t patterns_;
  std::uint64_t mod_mul_;
  AlignedBuffer buf_;
  std::array<std::uint64_t, kMaxPatterns> hashes_{};
};

}  // namespace ipcm
