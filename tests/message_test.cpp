// The message check catches what it exists to catch: loss, reordering, corruption.
#include <gtest/gtest.h>

#include <vector>

#include "harness/message.h"

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
  // Same payload, next sequence number, old checksum.
  const std::uint32_t sk = pack_seq(MsgKind::kData, 2);
  std::memcpy(forged.data(), &sk, sizeof sk);
  EXPECT_FALSE(verify_message(Bytes(forged), 64, MsgKind::kData, 2));
}

}  // namespace
}  // namespace ipcm
