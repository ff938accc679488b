// The fanin family's workload, counted: over every queue transport and peer kind, N producers
// and M consumers deliver every message exactly once (run_fanin reconciles each producer's
// sequence numbers and reports any loss or duplicate as an error); combinations that cannot
// run say why; a killed party ends the run instead of hanging it; nothing is left behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <set>
#include <string>

#include "bench/fanin/fanin.h"
#include "harness/core/names.h"
#include "tests/support.h"

namespace ipcm {
namespace {

struct FaninCase {
  const TransportDef* transport;
  PeerKind peer;
  int producers, consumers;
  std::size_t size;
};

std::vector<FaninCase> all_cases() {
  std::vector<FaninCase> v;
  for (const TransportDef* t : transports()) {
    if (!fanin_transport(*t)) continue;
    for (PeerKind k : kAllPeers)
      for (auto [p, c] : {std::pair{1, 1}, std::pair{3, 1}, std::pair{3, 2}, std::pair{1, 3}})
        for (std::size_t s : {kFaninHeaderBytes, std::size_t(1000)}) v.push_back({t, k, p, c, s});
  }
  return v;
}

std::string case_name(const testing::TestParamInfo<FaninCase>& info) {
  const FaninCase& c = info.param;
  return std::string(c.transport->name) + "_" + peer_name(c.peer) + "_" + std::to_string(c.producers) + "p" +
         std::to_string(c.consumers) + "c_" + std::to_string(c.size);
}

class FaninExactlyOnce : public testing::TestWithParam<FaninCase> {};

TEST_P(FaninExactlyOnce, EveryMessageDeliveredOnce) {
  const FaninCase& c = GetParam();
  const std::set<std::string> before = my_objects();
  FaninPlan plan{c.transport, c.peer, c.producers, c.consumers, c.size, 5003, {}};
  const FaninResult r = run_fanin(plan);
  if (expect_table_refusal(c.peer, PeerUse::kGroupParty, r.error)) return;
  // A queue transport without the many-to-many form (the messaging libraries') is listed with
  // the reason, as ManyToManyRegistry.EveryQueueTransportOffersTheFormOrFaninSaysWhy allows.
  if (!c.transport->many_to_many) {
    EXPECT_EQ(r.error, fanin_refusal(*c.transport, c.peer, c.size));
    EXPECT_NE(r.error, "");
    return;
  }
  if (!c.transport->reaches(c.peer)) {
    EXPECT_NE(r.error.find("cannot reach a " + std::string(peer_name(c.peer)) + " peer"), std::string::npos) << r.error;
    return;
  }
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.messages, plan.messages);
  EXPECT_GT(r.seconds, 0);
  EXPECT_EQ(my_objects(), before);
  EXPECT_TRUE(no_children_left());
}

INSTANTIATE_TEST_SUITE_P(All, FaninExactlyOnce, testing::ValuesIn(all_cases()), case_name);

TEST(FaninRefusals, OverTheSizeLimitSaysWhy) {
  for (const TransportDef* t : transports()) {
    if (!fanin_transport(*t)) continue;
    const auto limit = t->max_msg_bytes();
    if (!limit) continue;
    const std::string why = fanin_refusal(*t, PeerKind::kFork, *limit + 1);
    EXPECT_NE(why.find("exceeds"), std::string::npos) << t->name << ": " << why;
    EXPECT_EQ(fanin_refusal(*t, PeerKind::kFork, *limit), "");
  }
}

TEST(FaninFaults, KilledProducerNeverHangsTheRun) {
  const std::set<std::string> before = my_objects();
  for (const char* name : {"bip_mq", "posix_mq", "zmq_ipc"}) {
    for (PeerKind k : {PeerKind::kFork, PeerKind::kSpawn}) {
      FaninPlan plan{find_transport(name), k, 2, 2, 64, 1'000'000'000, {}};
      plan.on_running = [](const std::vector<pid_t>& pids) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        kill(pids[0], SIGKILL);  // a producer
      };
      const auto t0 = std::chrono::steady_clock::now();
      const FaninResult r = run_fanin(plan);
      EXPECT_NE(r.error.find("killed by signal"), std::string::npos) << name << ": " << r.error;
      EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
    }
  }
  EXPECT_EQ(my_objects(), before);
  EXPECT_TRUE(no_children_left());
}

}  // namespace
}  // namespace ipcm
