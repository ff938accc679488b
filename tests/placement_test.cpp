// The placement family's choice of CPUs for each `where`, on machines described by hand: a
// two-socket SMT server, this kind of VM (distinct cores, one socket), one CPU, a VM whose
// sysfs hides the topology. The live rows are checked by the smoke run.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness/core/env.h"

namespace ipcm {
namespace {

// cpu, package, core, node
CpuTopology cpu(int n, long package, long core, int node = 0) { return {n, package, core, node}; }

// 2 packages x 2 cores x 2 threads, Linux numbering: siblings are n and n + 4.
std::vector<CpuTopology> two_socket_smt() {
  return {cpu(0, 0, 0), cpu(1, 0, 1), cpu(2, 1, 0, 1), cpu(3, 1, 1, 1),
          cpu(4, 0, 0), cpu(5, 0, 1), cpu(6, 1, 0, 1), cpu(7, 1, 1, 1)};
}

TEST(Placement, EveryWhereOnATwoSocketSmtMachine) {
  const auto topo = two_socket_smt();
  const Sited same = place_among(Where::kSameCpu, topo);
  ASSERT_TRUE(same.lacking.empty());
  EXPECT_TRUE(same.placement.pinned);
  EXPECT_EQ(same.placement.parent_cpu, 0);
  EXPECT_EQ(same.placement.peer_cpu, 0);

  const Sited core = place_among(Where::kOtherCore, topo);
  ASSERT_TRUE(core.lacking.empty()) << core.lacking;
  EXPECT_EQ(core.placement.parent_cpu, 0);
  EXPECT_EQ(core.placement.peer_cpu, 1);  // package 0, core 1: not a sibling, not a socket away
  EXPECT_FALSE(core.placement.same_core);

  const Sited smt = place_among(Where::kSmtSibling, topo);
  ASSERT_TRUE(smt.lacking.empty()) << smt.lacking;
  EXPECT_EQ(smt.placement.parent_cpu, 0);
  EXPECT_EQ(smt.placement.peer_cpu, 4);
  EXPECT_TRUE(smt.placement.same_core);
  EXPECT_NE(smt.placement.reason.find("SMT siblings"), std::string::npos) << smt.placement.reason;

  const Sited socket = place_among(Where::kOtherSocket, topo);
  ASSERT_TRUE(socket.lacking.empty()) << socket.lacking;
  EXPECT_EQ(socket.placement.parent_cpu, 0);
  EXPECT_EQ(socket.placement.peer_cpu, 2);

  const Sited free = place_among(Where::kUnpinned, topo);
  EXPECT_TRUE(free.lacking.empty());
  EXPECT_FALSE(free.placement.pinned);
  EXPECT_EQ(free.placement.allowed_cpus.size(), topo.size());
}

TEST(Placement, OneSocketWithoutSmtLacksSiblingsAndSockets) {
  const std::vector<CpuTopology> vm = {cpu(0, 0, 0), cpu(1, 0, 1)};
  EXPECT_TRUE(place_among(Where::kOtherCore, vm).lacking.empty());
  const Sited smt = place_among(Where::kSmtSibling, vm);
  EXPECT_NE(smt.lacking.find("share a physical core"), std::string::npos) << smt.lacking;
  EXPECT_FALSE(smt.placement.pinned);
  const Sited socket = place_among(Where::kOtherSocket, vm);
  EXPECT_NE(socket.lacking.find("one socket"), std::string::npos) << socket.lacking;
}

TEST(Placement, OneAllowedCpuHasOnlySameCpuAndUnpinned) {
  const std::vector<CpuTopology> one = {cpu(3, 0, 3)};
  EXPECT_TRUE(place_among(Where::kSameCpu, one).lacking.empty());
  EXPECT_EQ(place_among(Where::kSameCpu, one).placement.parent_cpu, 3);
  EXPECT_TRUE(place_among(Where::kUnpinned, one).lacking.empty());
  for (Where w : {Where::kOtherCore, Where::kSmtSibling, Where::kOtherSocket}) {
    const Sited s = place_among(w, one);
    EXPECT_NE(s.lacking.find("only CPU 3 is allowed"), std::string::npos) << kWhereNames.name(w) << ": " << s.lacking;
  }
}

TEST(Placement, UnknownTopologyIsSaidNotGuessed) {
  const std::vector<CpuTopology> hidden = {cpu(0, -1, -1, -1), cpu(1, -1, -1, -1)};
  for (Where w : {Where::kOtherCore, Where::kSmtSibling, Where::kOtherSocket}) {
    const Sited s = place_among(w, hidden);
    EXPECT_NE(s.lacking.find("topology is not in sysfs"), std::string::npos) << kWhereNames.name(w) << ": " << s.lacking;
  }
  EXPECT_TRUE(place_among(Where::kSameCpu, hidden).lacking.empty());
}

TEST(Placement, NoAllowedCpusIsLackingNotACrash) {
  const Sited s = place_among(Where::kSameCpu, {});
  EXPECT_FALSE(s.lacking.empty());
}

}  // namespace
}  // namespace ipcm
