#include "harness/message.h"

#include <bit>

#include "harness/check.h"

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

// Eight independent lanes so the loop vectorises; the rotation makes the result depend on
// each word's position, so swapped words are caught as well as flipped bits.
__attribute__((target_clones("avx2", "default"))) std::uint64_t payload_hash(
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
  const std::uint64_t ph = payload_hash(msg.data() + sizeof h, size - sizeof h);
  if (fold_checksum(ph, h.seq_kind) != h.checksum)
    return Status::Corrupt("message failed its checksum (corrupted)");
  return Status::Ok();
}

MessageSet::MessageSet(std::size_t size, std::uint64_t salt)
    : size_(size), stride_((size + kCacheLine - 1) / kCacheLine * kCacheLine) {
  IPCM_CHECK(size >= kMinMessageBytes && size <= kMaxMessageBytes);
  buf_ = AlignedBuffer(stride_ * kPatterns);
  // xorshift fill: every pattern differs, so a stale buffer delivered again cannot pass.
  std::uint64_t x = 0x2545F4914F6CDD1Dull ^ (salt * 0x9E3779B97F4A7C15ull) ^ size;
  for (std::size_t s = 0; s < kPatterns; ++s) {
    std::byte* m = buf_.data() + s * stride_;
    for (std::size_t i = 0; i < size; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      m[i] = std::byte(x);
    }
    hashes_[s] = payload_hash(m + sizeof(MsgHeader), size - sizeof(MsgHeader));
  }
}

}  // namespace ipcm
