// The pool family's harness: every executor runs every task exactly once for several chunk
// sizes (including a chunk that does not divide the tasks), leaves no child behind, TBB's
// threads are gone after its executor, and bad names or counts are refused with a reason.
// The work calibration's arithmetic is checked on made-up windows (no speed is asserted).
#include <gtest/gtest.h>

#include "bench/pool/pool.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

TEST(Pool, EveryExecutorRunsEveryTaskOnce) {
  const std::uint64_t iters = task_iterations(2, calibrate_work_rate());  // 2 µs
  for (Executor e : kAllExecutors) {
    SCOPED_TRACE(executor_name(e));
    {
      Made<PoolExecutor> ex = make_executor(e, 2);
      ASSERT_TRUE(ex) << ex.error;
      for (std::uint32_t chunk : {1u, 3u, 64u}) {
        const PoolJob job{e == Executor::kProcessPerTask ? 40u : 1000u, chunk, iters};
        for (int rep = 0; rep < 2; ++rep) {
          std::uint64_t sum = 0;
          std::string why;
          ASSERT_TRUE(ex.value->run(job, sum, why)) << why;
          EXPECT_EQ(sum, expected_pool_sum(job.tasks)) << "chunk " << chunk;
        }
      }
    }
    EXPECT_TRUE(no_children_left());
    EXPECT_EQ(thread_count(), 1) << "threads outlived the executor";
  }
}

TEST(Pool, WorkRateIsTheMedianWindowNotTheFastestOrTheMean) {
  // A preempted window looks slow, a late clock read fast: neither moves the median.
  const WorkRate r = work_rate_of({1000, 1010, 300, 990, 2000});
  EXPECT_DOUBLE_EQ(r.iters_per_us, 1000);
  EXPECT_DOUBLE_EQ(r.spread, (2000.0 - 300.0) / 1000.0);
  EXPECT_DOUBLE_EQ(work_rate_of({4, 1, 3, 2}).iters_per_us, 2.5);
  EXPECT_DOUBLE_EQ(work_rate_of({7}).spread, 0);
  EXPECT_EQ(work_rate_of({}).iters_per_us, 0);
}

TEST(Pool, TaskIterationsAreTheTaskTimesTheRate) {
  EXPECT_EQ(task_iterations(100, WorkRate{1500, 0}), 150000u);
  EXPECT_EQ(task_iterations(1, WorkRate{2345.6, 0}), 2346u);
  EXPECT_EQ(task_iterations(1e-6, WorkRate{1, 0}), 1u);  // never an empty task
  EXPECT_GT(calibrate_work_rate().iters_per_us, 0);
}

TEST(Pool, BadNamesAndCountsAreRefusedWithAReason) {
  Made<PoolExecutor> ex = make_executor("celery", 2);
  ASSERT_FALSE(ex);
  EXPECT_NE(ex.error.find("unknown executor"), std::string::npos);
  Made<PoolExecutor> none = make_executor(Executor::kThreadPool, 0);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error.find("workers must be"), std::string::npos);
}

}  // namespace
}  // namespace ipcm
