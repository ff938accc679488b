// The state family's workload, counted: every access mode between threads, forked and
// spawned workers ends with exactly the values its ops imply (run_state checks every counter
// and array element and reports any difference as an error), and leaves nothing behind.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

#include "harness/core/names.h"
#include "tests/support.h"
#include "bench/state/state.h"

namespace ipcm {
namespace {

struct StateCase {
  Access access;
  PeerKind peer;
  int workers;
};

std::vector<StateCase> all_cases() {
  std::vector<StateCase> v;
  for (Access a : kAllAccesses)
    for (PeerKind k : kAllPeers)
      for (int n : {1, 3, 5}) v.push_back({a, k, n});
  return v;
}

std::string case_name(const testing::TestParamInfo<StateCase>& info) {
  return std::string(access_name(info.param.access)) + "_" + peer_name(info.param.peer) + "_" +
         std::to_string(info.param.workers);
}

class StateExact : public testing::TestWithParam<StateCase> {};

TEST_P(StateExact, FinalValuesAreExact) {
  const StateCase& c = GetParam();
  const std::set<std::string> before = my_objects();
  StatePlan plan;
  plan.access = c.access;
  plan.peer = c.peer;
  plan.workers = c.workers;
  // Not a multiple of the workers or of the array, so the uneven shares are checked too.
  plan.ops = c.access == Access::kProxy ? 1237 : 200'003;
  const StateResult r = run_state(plan);
  if (expect_table_refusal(c.peer, PeerUse::kGroupParty, r.error)) return;
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.ops, plan.ops);
  EXPECT_GT(r.seconds, 0);
  EXPECT_EQ(my_objects(), before);
  EXPECT_TRUE(no_children_left());
}

INSTANTIATE_TEST_SUITE_P(All, StateExact, testing::ValuesIn(all_cases()), case_name);

TEST(StateShares, OpsAreSharedOutExactly) {
  for (std::uint64_t ops : {1ull, 7ull, 64ull, 1000003ull})
    for (int n : {1, 2, 3, 64}) {
      std::uint64_t sum = 0;
      for (int w = 0; w < n; ++w) sum += ops_of_worker(ops, n, w);
      EXPECT_EQ(sum, ops);
    }
}

TEST(StateNames, EveryAccessHasItsContractName) {
  std::set<std::string> names;
  for (Access a : kAllAccesses) {
    names.insert(access_name(a));
    EXPECT_EQ(parse_access(access_name(a)), a);
  }
  EXPECT_EQ(names, (std::set<std::string>{"lock", "atomic", "false_sharing", "padded", "proxy"}));
}

}  // namespace
}  // namespace ipcm
