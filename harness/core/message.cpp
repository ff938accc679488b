#include "harness/core/message.h"

#include <bit>
#include <iterator>

#include "harness/core/check.h"

namespace ipcm {
namespace {

constexpr std::size_t kLanes = 8;
constexpr int kRot = 23;

std::uint64_t load64(const std::byte* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

// target_clones makes an ifunc whose resolver the dynamic loader runs while it relocates the
// binary, before ThreadSanitizer's runtime is initialised; TSan instruments the resolver too
// (its __tsan_func_entry), so a -fsanitize=thread binary crashed before main (scripts/test.sh
// --sanitize found it). The TSan build takes the default clone only; ASan's runtime is ready
// by then, so other builds keep both.
#if defined(__SANITIZE_THREAD__)
#define IPCM_HASH_CLONES
#else
#define IPCM_HASH_CLONES __attribute__((target_clones("avx2", "default")))
#endif

// Eight independent lanes so the loop vectorises; the rotation makes the result depend on
// each word's position, so swapped words are caught as well as flipped bits.
IPCM_HASH_CLONES std::uint64_t payload_hash(
    const std::byte* p, std::size_t n) noexcept {
  std::uint64_t acc[kLanes];
  for (std::size_t j = 0; j < kLanes; ++j) acc[j] = 0x243F6A8885A308D3ull * (j + 1);
  std::size_t i = 0;
  for (; i + kLanes * 8 <= n; i += kLanes * 8) {
    for (std::size_t j = 0; j < kLanes; ++j) {
      const std::uint64_t w = load64(p + i + 8 * j);
      const std::uint64_t s = acc[j] + w;
      acc[j] = (s << kRot) | (s >> (64 - kRot));
    }
  }
  std::byte tail[kLanes * 8] = {};
  std::memcpy(tail, p + i, n - i);
  // Lanes are folded with independent multiplies (not a chain of them), so a short message —
  // the latency-critical case — hashes in a dozen cycles.
  constexpr std::uint64_t kMul[kLanes] = {0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full, 0x165667B19E3779F9ull,
                                          0xD6E8FEB86659FD93ull, 0xFF51AFD7ED558CCDull, 0xC4CEB9FE1A85EC53ull,
                                          0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull};
  std::uint64_t h = std::uint64_t(n) * 0x2545F4914F6CDD1Dull;
  for (std::size_t j = 0; j < kLanes; ++j) h += (acc[j] ^ load64(tail + 8 * j)) * kMul[j];
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 29;
  return h;
}

Status verify_message(Bytes msg, std::size_t size, MsgKind kind, std::uint64_t seq) noexcept {
  if (msg.size() != size) return Status::Corrupt("message has the wrong length");
  MsgHeader h;
  std::memcpy(&h, msg.data(), sizeof h);
  if (kind_of(h.seq_kind) != kind) return Status::Corrupt("message of an unexpected kind");
  if ((h.seq_kind & kSeqMask) != (std::uint32_t(seq) & kSeqMask))
    return Status::Corrupt("message out of sequence (lost, duplicated or reordered)");
  std::uint32_t trailer;
  std::memcpy(&trailer, msg.data() + trailer_offset(size), sizeof trailer);
  if (trailer != h.seq_kind)
    return Status::Corrupt("message ends with another message's bytes (a slot read before it was rewritten)");
  const std::uint64_t ph = payload_hash(msg.data() + sizeof h, hashed_bytes(size));
  if (fold_checksum(ph, h.seq_kind) != h.checksum)
    return Status::Corrupt("message failed its checksum (corrupted, or partly another message's)");
  return Status::Ok();
}

namespace {

// Odd primes, largest first: each shares no factor with any power of two.
constexpr std::size_t kPatternCounts[] = {MessageSet::kMaxPatterns, 31, 13, 7, 5, 3};

std::size_t pattern_count(std::size_t stride) {
  for (std::size_t n : kPatternCounts)
    if (n * stride <= MessageSet::kPatternBytesBudget) return n;
  return kPatternCounts[std::size(kPatternCounts) - 1];
}

}  // namespace

MessageSet::MessageSet(std::size_t size, std::uint64_t salt)
    : size_(size),
      stride_((size + kCacheLine - 1) / kCacheLine * kCacheLine),
      trailer_at_(trailer_offset(size)),
      patterns_(pattern_count(stride_)),
      mod_mul_(~std::uint64_t(0) / patterns_ + 1) {
  IPCM_CHECK(size >= kMinMessageBytes && size <= kMaxMessageBytes);
  buf_ = AlignedBuffer(stride_ * patterns_);
  // xorshift fill: every pattern differs, so a stale buffer delivered again cannot pass.
  std::uint64_t x = 0x2545F4914F6CDD1Dull ^ (salt * 0x9E3779B97F4A7C15ull) ^ size;
  for (std::size_t s = 0; s < patterns_; ++s) {
    std::byte* m = buf_.data() + s * stride_;
    for (std::size_t i = 0; i < size; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      m[i] = std::byte(x);
    }
    // Random bytes could repeat in a payload of one to three bytes; the pattern's own
    // number cannot.
    if (hashed_bytes(size) != 0) m[sizeof(MsgHeader)] = std::byte(s);
    hashes_[s] = payload_hash(m + sizeof(MsgHeader), hashed_bytes(size));
  }
}

}  // namespace ipcm
