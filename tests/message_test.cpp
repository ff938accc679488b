// The message check catches what it exists to catch: loss, reordering, corruption, and a
// slot read a lap too early.
#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <set>
#include <vector>

#include "harness/core/message.h"

namespace ipcm {
namespace {

std::vector<std::byte> copy_of(Bytes b) { return {b.begin(), b.end()}; }

TEST(Message, IntactMessagePasses) {
  for (std::size_t size : {std::size_t(8), std::size_t(9), std::size_t(64), std::size_t(1000), std::size_t(1) << 20}) {
    MessageSet ms(size);
    for (std::uint64_t seq : {0ull, 1ull, 7ull, 1ull << 31}) {
      EXPECT_TRUE(verify_message(ms.stamp(MsgKind::kData, seq), size, MsgKind::kData, seq)) << size;
    }
  }
}

TEST(Message, EveryFlippedByteIsCaught) {
  MessageSet ms(200);
  const auto good = copy_of(ms.stamp(MsgKind::kData, 3));
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto bad = good;
    bad[i] ^= std::byte{0x10};
    EXPECT_FALSE(verify_message(Bytes(bad), 200, MsgKind::kData, 3)) << "byte " << i;
  }
}

TEST(Message, SwappedWordsAreCaught) {
  MessageSet ms(256);
  auto bad = copy_of(ms.stamp(MsgKind::kData, 0));
  std::swap_ranges(bad.begin() + 16, bad.begin() + 24, bad.begin() + 80);
  EXPECT_FALSE(verify_message(Bytes(bad), 256, MsgKind::kData, 0));
}

TEST(Message, LossAndReorderingAreCaught) {
  MessageSet ms(64);
  const auto m5 = copy_of(ms.stamp(MsgKind::kData, 5));
  EXPECT_EQ(verify_message(Bytes(m5), 64, MsgKind::kData, 4).code, Status::kCorrupt);
  EXPECT_EQ(verify_message(Bytes(m5), 64, MsgKind::kData, 6).code, Status::kCorrupt);
  EXPECT_EQ(verify_message(Bytes(m5), 64, MsgKind::kStop, 5).code, Status::kCorrupt);
  EXPECT_EQ(verify_message(Bytes(m5).first(63), 64, MsgKind::kData, 5).code, Status::kCorrupt);
}

TEST(Message, AStaleBufferCannotPassAsANewMessage) {
  MessageSet ms(64);
  const auto m1 = copy_of(ms.stamp(MsgKind::kData, 1));
  auto forged = m1;
  // Same payload, next sequence number in the header and the trailer, old checksum: only
  // the checksum's fold of the sequence number can tell.
  const std::uint32_t sk = pack_seq(MsgKind::kData, 2);
  std::memcpy(forged.data(), &sk, sizeof sk);
  std::memcpy(forged.data() + trailer_offset(64), &sk, sizeof sk);
  EXPECT_FALSE(verify_message(Bytes(forged), 64, MsgKind::kData, 2));
}

// A receiver that reads ring slot seq % depth before the sender has rewritten it for message
// seq sees message seq - depth there, wholly or in part. Every way of mixing the two must
// fail the check: the whole slot stale, a fresh header over a stale payload, and a read torn
// fresh at both ends and stale in the middle (caught when the two messages' patterns differ:
// always for power-of-two depths, the rings' and queues', and for any depth that is not a
// multiple of the pattern count).
enum class Stale { kWholeSlot, kPayload, kMiddle };

std::vector<std::byte> stale_read(MessageSet& ms, std::uint64_t seq, std::uint64_t depth, Stale how) {
  const auto fresh = copy_of(ms.stamp(MsgKind::kData, seq));
  auto read = copy_of(ms.stamp(MsgKind::kData, seq - depth));
  const std::size_t n = read.size();
  if (how != Stale::kWholeSlot) std::copy_n(fresh.begin(), sizeof(MsgHeader), read.begin());
  if (how == Stale::kMiddle)
    std::copy(fresh.begin() + std::ptrdiff_t(trailer_offset(n)), fresh.end(), read.begin() + std::ptrdiff_t(trailer_offset(n)));
  return read;
}

bool caught(MessageSet& ms, std::uint64_t seq, std::uint64_t depth, Stale how) {
  const auto read = stale_read(ms, seq, depth, how);
  return !verify_message(Bytes(read), ms.size(), MsgKind::kData, seq);
}

constexpr std::uint64_t kSeq = 1'000'003;
constexpr std::uint64_t kMaxDepth = 1024;

TEST(Message, ASlotOneLapStaleIsCaughtAtEveryDepth) {
  for (std::size_t size : std::initializer_list<std::size_t>{8, 9, 11, 12, 13, 16, 64, 100, 240, 256, 1000, 4096, 65536}) {
    MessageSet ms(size);
    const bool has_trailer = trailer_offset(size) != 0, has_payload = hashed_bytes(size) != 0;
    for (std::uint64_t depth = 1; depth <= kMaxDepth; ++depth) {
      const bool patterns_differ = has_payload && depth % ms.patterns() != 0;
      EXPECT_TRUE(caught(ms, kSeq, depth, Stale::kWholeSlot)) << "size " << size << " depth " << depth;
      // Below 12 bytes there is no room for a trailer: only the pattern can tell.
      if (has_trailer || patterns_differ) {
        EXPECT_TRUE(caught(ms, kSeq, depth, Stale::kPayload)) << "size " << size << " depth " << depth;
      }
      if (has_trailer && patterns_differ) {
        EXPECT_TRUE(caught(ms, kSeq, depth, Stale::kMiddle)) << "size " << size << " depth " << depth;
      }
    }
  }
}

TEST(Message, ATornSlotIsCaughtAtEveryPowerOfTwoDepth) {
  for (std::size_t size : {std::size_t(13), std::size_t(64), std::size_t(2048), std::size_t(1) << 20}) {
    MessageSet ms(size);
    for (std::uint64_t depth = 1; depth <= (1u << 20); depth *= 2) {
      EXPECT_TRUE(caught(ms, kSeq + depth, depth, Stale::kMiddle)) << "size " << size << " depth " << depth;
      EXPECT_TRUE(caught(ms, kSeq + depth, depth, Stale::kPayload)) << "size " << size << " depth " << depth;
    }
  }
}

// The check above is only as strong as the pattern cycle: pattern count odd (no factor in
// common with a power-of-two depth), the cycle exact, and the patterns' bytes all distinct.
TEST(Message, PatternsCycleWithAnOddPeriodWithinTheBudget) {
  for (std::size_t size = kMinMessageBytes; size <= kMaxMessageBytes; size = size * 3 / 2 + 1) {
    MessageSet ms(size);
    const std::size_t n = ms.patterns();
    EXPECT_EQ(n % 2, 1u) << size;
    EXPECT_GE(n, 3u) << size;
    EXPECT_TRUE(n * size <= MessageSet::kPatternBytesBudget || n == 3) << size;
    std::vector<const std::byte*> where;
    for (std::uint64_t seq = 0; seq < n; ++seq) where.push_back(ms.stamp(MsgKind::kData, seq).data());
    EXPECT_EQ(std::set<const std::byte*>(where.begin(), where.end()).size(), n) << size;
    for (std::uint64_t seq : {std::uint64_t(0), std::uint64_t(n - 1), std::uint64_t(12345), std::uint64_t(0xFFFFFFFFu - n)})
      EXPECT_EQ(ms.stamp(MsgKind::kData, seq).data(), ms.stamp(MsgKind::kData, seq + n).data()) << size << " " << seq;
  }
}

}  // namespace
}  // namespace ipcm
