// The pool family's harness: every executor runs every task exactly once for several chunk
// sizes (including a chunk that does not divide the tasks), leaves no child behind, TBB's
// threads are gone after its executor, and bad names or counts are refused with a reason.
#include <gtest/gtest.h>

#include "harness/clock.h"
#include "harness/pool.h"
#include "harness/workers.h"

namespace ipcm {
namespace {

TEST(Pool, EveryExecutorRunsEveryTaskOnce) {
  const std::uint64_t ticks = std::uint64_t(2000 / TickClock::get().ns_per_tick());  // 2 µs
  for (Executor e : kAllExecutors) {
    SCOPED_TRACE(executor_name(e));
    {
      Made<PoolExecutor> ex = make_executor(e, 2);
      ASSERT_TRUE(ex) << ex.error;
      for (std::uint32_t chunk : {1u, 3u, 64u}) {
        const PoolJob job{e == Executor::kProcessPerTask ? 40u : 1000u, chunk, ticks};
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
