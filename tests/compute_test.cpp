// The compute family's harness: every kernel gives the serial answer for every peer and worker
// count (oversubscribed included), every worker is reaped, no shared memory is left, and bad
// counts are refused with a reason. The arithmetic behind the counters — medians, the
// speedup's spread, the superlinear check, membw's sizing — is checked on made-up numbers.
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness/core/env.h"
#include "bench/compute/compute.h"
#include "harness/core/names.h"
#include "harness/launch/workers.h"
#include "tests/support.h"

namespace ipcm {
namespace {

const KernelSize kSmall{1 << 12, 8, 1 << 20, 2, 1 << 13, 4};
constexpr unsigned kWorkerCounts[] = {1, 2, 3, 8};

TEST(Compute, EveryKernelMatchesSerialForEveryPeerAndWorkerCount) {
  for (Kernel k : kAllKernels)
    for (PeerKind p : kAllPeers)
      for (unsigned w : kWorkerCounts) {
        SCOPED_TRACE(std::string(kernel_name(k)) + "/" + peer_name(p) + "/" + std::to_string(w));
        Made<ComputeTeam> t = ComputeTeam::start(k, p, w, kSmall);
        if (expect_table_refusal(p, PeerUse::kTeamWorker, t.error)) continue;
        ASSERT_TRUE(t) << t.error;
        std::string why;
        ASSERT_TRUE(t.value->round(why)) << why;
        ASSERT_TRUE(t.value->verify(why)) << why;
        ASSERT_TRUE(t.value->verify(why)) << why;
        ASSERT_TRUE(t.value->stop(why)) << why;
      }
  EXPECT_TRUE(no_children_left());
  EXPECT_EQ(my_objects().size(), 0u);
}

TEST(Compute, FarmMatchesSerialPooledAndUnbounded) {
  const FarmSize size{6, 1 << 10, 8};
  for (PeerKind p : {PeerKind::kFork, PeerKind::kSpawn})
    for (bool pool : {false, true}) {
      SCOPED_TRACE(std::string(peer_name(p)) + (pool ? " pool" : " unbounded"));
      double s = 0;
      std::string why;
      ASSERT_TRUE(run_farm(p, pool, 2, size, s, why)) << why;
      EXPECT_GT(s, 0);
    }
  EXPECT_TRUE(no_children_left());
  EXPECT_EQ(my_objects().size(), 0u);
}

TEST(Compute, SpeedupIsTheMedianRatioOfNeighbouringRoundsWithItsSpread) {
  // Pairs (workers:1, here) in ms: (10, 5), (12, 6), (30, 15) where the host slowed both, and
  // (11, 50) where only the timed round was preempted. Ratios 2, 2, 2, 0.22: median 2.
  const Speedup s = speedup_of({0.010, 0.012, 0.030, 0.011}, {0.005, 0.006, 0.015, 0.050});
  EXPECT_DOUBLE_EQ(s.median, 2.0);
  EXPECT_DOUBLE_EQ(s.min, 0.011 / 0.050);
  EXPECT_DOUBLE_EQ(s.max, 2.0);
  // The drift that made an unpaired ratio of medians impossible: the reference rounds slowed
  // by the host while the timed ones were not still pair to a possible 2x.
  const Speedup drift = speedup_of({0.0102, 0.0100, 0.0101}, {0.0051, 0.0050, 0.0051});
  EXPECT_NEAR(drift.median, 2.0, 0.01);
  EXPECT_EQ(impossible_speedup(drift.median, 2, 2), "");
  EXPECT_EQ(speedup_of({}, {}).median, 0);
  EXPECT_EQ(speedup_of({0.01, 0.01}, {0.01}).median, 0);  // unpaired: no figure
  EXPECT_EQ(speedup_of({0.01}, {0}).median, 0);
  EXPECT_DOUBLE_EQ(median_of({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median_of({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(median_of({}), 0);
}

TEST(Compute, SerialRoundDoesAllTheWorkInWorkerZero) {
  // The workers:1 reference inside a team of N must do the same work: its result is the
  // serial one, and a full round afterwards still verifies.
  for (Kernel k : kAllKernels)
    for (PeerKind p : kAllPeers) {
      SCOPED_TRACE(std::string(kernel_name(k)) + "/" + peer_name(p));
      Made<ComputeTeam> t = ComputeTeam::start(k, p, 3, kSmall);
      if (expect_table_refusal(p, PeerUse::kTeamWorker, t.error)) continue;
      ASSERT_TRUE(t) << t.error;
      std::string why;
      ASSERT_TRUE(t.value->serial_round(why)) << why;
      ASSERT_TRUE(t.value->verify(why, /*serial=*/true)) << why;
      ASSERT_TRUE(t.value->verify(why)) << why;
      ASSERT_TRUE(t.value->verify(why, /*serial=*/true)) << why;
      ASSERT_TRUE(t.value->stop(why)) << why;
    }
  EXPECT_TRUE(no_children_left());
  EXPECT_EQ(my_objects().size(), 0u);
}

TEST(Compute, SpeedupAboveWhatTheCpusAllowIsAnErrorNamingTheFigure) {
  // The reported case: 2 threads 2.97x faster than 1 on 2 CPUs.
  const std::string no = impossible_speedup(2.97, 2, 2);
  EXPECT_NE(no.find("measurement error"), std::string::npos) << no;
  EXPECT_NE(no.find("2.97x"), std::string::npos) << no;
  EXPECT_NE(no.find("2 workers on 2 CPUs"), std::string::npos) << no;
  EXPECT_EQ(impossible_speedup(2.19, 2, 2), "");   // within 10% of the bound
  EXPECT_NE(impossible_speedup(2.3, 8, 2), "");    // oversubscribed: the CPUs bound it
  EXPECT_NE(impossible_speedup(1.2, 1, 2), "");    // one worker: the workers bound it
  EXPECT_EQ(impossible_speedup(3.9, 4, 8), "");
  EXPECT_EQ(impossible_speedup(0.5, 2, 2), "");    // slower is a result, not an error
}

TEST(Compute, MembwArrayIsFourTimesTheCacheWithinMemory) {
  constexpr std::uint64_t MiB = 1 << 20;
  EXPECT_EQ(membw_working_set(32 * MiB, 32 * MiB, std::nullopt), 128 * MiB);
  EXPECT_EQ(membw_working_set(256 * MiB, 32 * MiB, std::nullopt), 256 * MiB);  // the profile's floor
  EXPECT_EQ(membw_working_set(32 * MiB, std::nullopt, std::nullopt), kLlcMultiple * kAssumedLlcBytes);
  EXPECT_EQ(membw_working_set(32 * MiB, 1024 * MiB, 2048 * MiB), 2048 * MiB / kMembwMemDivisor);
  EXPECT_EQ(membw_working_set(1, 3 * 1000, std::nullopt) % 4096, 0u);  // whole pages
  if (const auto llc = llc_bytes()) {
    EXPECT_GT(*llc, 0u);
  }
}

TEST(Compute, BadCountsAreRefusedWithAReason) {
  Made<ComputeTeam> t = ComputeTeam::start(Kernel::kCpu, PeerKind::kThread, 0, kSmall);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error.find("workers must be"), std::string::npos);
  EXPECT_FALSE(parse_kernel("gpu"));
  double s = 0;
  std::string why;
  EXPECT_FALSE(run_farm(PeerKind::kThread, true, 2, FarmSize{}, s, why));
  EXPECT_NE(why.find("thread peer is not offered"), std::string::npos);
}

}  // namespace
}  // namespace ipcm
