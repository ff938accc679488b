// The compute family's harness: every kernel gives the serial answer for every peer and worker
// count (oversubscribed included), every worker is reaped, no shared memory is left, and bad
// counts are refused with a reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness/kernels.h"
#include "harness/names.h"
#include "harness/workers.h"
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
