// The launcher: a party of every kind runs a registered role and is reaped with its exit code;
// a forked party without a body runs the role's entry as a spawned copy would; a child whose
// parent dies dies too; a hung child is killed within the reaping limit; a child that finds
// its parent gone, or is asked for an unknown role, says so in its exit status; an outside
// program gets exactly the descriptors it is given; the peer-kind table is complete. Nothing
// is left behind: no child, no named object.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "harness/core/check.h"
#include "harness/launch/launcher.h"
#include "harness/core/limits.h"
#include "harness/launch/peer_kind.h"
#include "harness/launch/workers.h"
#include "tests/support.h"

namespace ipcm {
namespace {

constexpr char kByte = 'k';
constexpr auto kBound = std::chrono::seconds(5);

// Writes one byte on the descriptor named by its first argument; exits with the second.
int write_role(int argc, char** argv) {
  std::uint64_t fd = 0, code = 0;
  if (argc != 2 || !parse_u64(argv[0], fd) || !parse_u64(argv[1], code)) return kPeerUsage;
  if (write(int(fd), &kByte, 1) != 1) return kPeerChannelFailed;
  return int(code);
}
IPCM_REGISTER_ROLE("test_write", write_role);

// Never ends by itself.
int sleep_role(int, char**) {
  for (;;) pause();
}
IPCM_REGISTER_ROLE("test_sleep", sleep_role);

// Starts a test_sleep child of the kind named by its second argument, writes its pid on the
// descriptor named by its first, then waits to be killed: the grandchild must then die too.
int parent_role(int argc, char** argv) {
  std::uint64_t fd = 0;
  if (argc != 2 || !parse_u64(argv[0], fd) || !parse_peer(argv[1])) return kPeerUsage;
  LaunchSpec spec;
  spec.role = "test_sleep";
  std::string err;
  const pid_t kid = launch(*parse_peer(argv[1]), std::move(spec), err).pid;
  if (kid <= 0 || write(int(fd), &kid, sizeof kid) != sizeof kid) return kPeerChannelFailed;
  for (;;) pause();
}
IPCM_REGISTER_ROLE("test_parent", parent_role);

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int p[2];
    IPCM_CHECK(pipe2(p, O_CLOEXEC) == 0);
    r = p[0], w = p[1];
  }
  ~Pipe() {
    close(r);
    if (w >= 0) close(w);
  }
  void close_write() {
    close(w);
    w = -1;
  }
  // One byte, or 0 when the pipe closed first.
  char read_byte() const {
    char c = 0;
    ssize_t n;
    do n = read(r, &c, 1);
    while (n < 0 && errno == EINTR);
    return n == 1 ? c : 0;
  }
};

// A process that is gone (or a zombie of someone else's: reparented, not yet reaped by init).
bool gone(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_s, comm, state;
  if (!(f >> pid_s >> comm >> state)) return true;
  return state == "Z" || state == "X";
}

LaunchSpec write_spec(int fd, int code) {
  LaunchSpec s;
  s.role = "test_write";
  s.args = {std::to_string(fd), std::to_string(code)};
  s.inherit = {fd};
  return s;
}

TEST(Launcher, EveryKindRunsItsRoleAndIsReapedWithItsExitCode) {
  const auto before = my_objects();
  for (PeerKind k : kAllPeers) {
    SCOPED_TRACE(peer_name(k));
    for (int code : {int(kPeerOk), int(kPeerChannelFailed)}) {
      Pipe p;
      LaunchSpec spec = write_spec(p.w, code);
      std::atomic<int> thread_code{-1};
      // Thread and fork run the body; a spawned copy runs the registered role over the same args.
      spec.body = [fd = p.w, code, &thread_code] {
        const int c = write(fd, &kByte, 1) == 1 ? code : int(kPeerChannelFailed);
        thread_code.store(c);
        return c;
      };
      std::string err;
      Launched l = launch(k, std::move(spec), err);
      ASSERT_TRUE(l) << err;
      EXPECT_EQ(p.read_byte(), kByte);
      if (!crosses_processes(k)) {
        ASSERT_TRUE(l.thread.joinable());
        l.thread.join();
        EXPECT_EQ(thread_code.load(), code);
        continue;
      }
      ASSERT_GT(l.pid, 0);
      std::vector<pid_t> pids{l.pid};
      std::string why;
      const Status st = reap_children(pids, std::chrono::seconds(10), why);
      EXPECT_EQ(bool(st), code == kPeerOk) << why;
      if (code != kPeerOk) {
        EXPECT_NE(why.find("exited with status 4"), std::string::npos) << why;
      }
      EXPECT_TRUE(pids.empty());
    }
  }
  EXPECT_TRUE(no_children_left());
  EXPECT_EQ(my_objects(), before);
}

TEST(Launcher, AForkedPartyWithoutABodyRunsTheRoleEntry) {
  Pipe p;
  std::string err;
  const pid_t pid = launch(PeerKind::kFork, write_spec(p.w, kPeerOk), err).pid;
  ASSERT_GT(pid, 0) << err;
  EXPECT_EQ(p.read_byte(), kByte);
  int status = 0;
  EXPECT_TRUE(reap_child(pid, std::chrono::steady_clock::now() + kBound, status));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kPeerOk) << describe_wait_status(status);
  EXPECT_TRUE(no_children_left());
}

TEST(Launcher, AProcessPartyKeepsOnlyTheDescriptorsItIsGiven) {
  // The watched pipe's write end is not passed on: once the parent closes its own copy, a
  // reader sees end-of-file even while the child lives.
  for (PeerKind k : {PeerKind::kFork, PeerKind::kSpawn}) {
    SCOPED_TRACE(peer_name(k));
    Pipe watched;
    LaunchSpec spec;
    spec.role = "test_sleep";
    spec.body = [] {
      for (;;) pause();
      return 0;
    };
    std::string err;
    const pid_t pid = launch(k, std::move(spec), err).pid;
    ASSERT_GT(pid, 0) << err;
    watched.close_write();
    EXPECT_EQ(watched.read_byte(), 0) << "the child holds a descriptor it was not given";
    std::vector<pid_t> pids{pid};
    kill_children(pids);
  }
  EXPECT_TRUE(no_children_left());
}

TEST(Launcher, AChildWhoseParentDiesDiesToo) {
  for (PeerKind k : {PeerKind::kFork, PeerKind::kSpawn}) {
    SCOPED_TRACE(peer_name(k));
    Pipe p;
    LaunchSpec spec;
    spec.role = "test_parent";
    spec.args = {std::to_string(p.w), peer_name(k)};
    spec.inherit = {p.w};
    std::string err;
    const pid_t parent = launch(PeerKind::kSpawn, std::move(spec), err).pid;
    ASSERT_GT(parent, 0) << err;
    pid_t grandchild = -1;
    ssize_t n;
    do n = read(p.r, &grandchild, sizeof grandchild);
    while (n < 0 && errno == EINTR);
    ASSERT_EQ(n, ssize_t(sizeof grandchild));
    ASSERT_FALSE(gone(grandchild));
    std::vector<pid_t> pids{parent};
    kill_children(pids);
    const auto until = std::chrono::steady_clock::now() + kBound;
    while (!gone(grandchild) && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(kReapPoll);
    EXPECT_TRUE(gone(grandchild)) << "pid " << grandchild << " outlived its parent";
  }
  EXPECT_TRUE(no_children_left());
}

TEST(Launcher, AHungChildIsKilledWithinTheLimit) {
  for (PeerKind k : {PeerKind::kFork, PeerKind::kSpawn}) {
    SCOPED_TRACE(peer_name(k));
    LaunchSpec spec;
    spec.role = "test_sleep";
    std::string err;
    const pid_t pid = launch(k, std::move(spec), err).pid;
    ASSERT_GT(pid, 0) << err;
    EXPECT_FALSE(ended_status(pid).has_value());
    std::vector<pid_t> pids{pid};
    std::string why;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(reap_children(pids, std::chrono::milliseconds(200), why));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200) + kBound);
    EXPECT_NE(why.find("did not finish in time and was killed"), std::string::npos) << why;
  }
  EXPECT_TRUE(no_children_left());
}

TEST(Launcher, AnEndedChildIsSeenWithoutBeingReaped) {
  Pipe p;
  std::string err;
  const pid_t pid = launch(PeerKind::kSpawn, write_spec(p.w, kPeerMessageBad), err).pid;
  ASSERT_GT(pid, 0) << err;
  EXPECT_EQ(p.read_byte(), kByte);
  std::optional<int> seen;
  const auto until = std::chrono::steady_clock::now() + kBound;
  while (!(seen = ended_status(pid)) && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(kReapPoll);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(describe_wait_status(*seen), "exited with status 5 (a received message failed its check)");
  // Still there for the reaper, with the same status.
  int status = 0;
  EXPECT_TRUE(reap_child(pid, std::chrono::steady_clock::now() + kBound, status));
  EXPECT_EQ(status, *seen);
  EXPECT_TRUE(no_children_left());
}

// Runs an outside program and returns its wait status.
int run_program(const std::vector<std::string>& argv, const std::vector<int>& inherit) {
  std::string err;
  const pid_t pid = launch_program(argv[0], argv, inherit, -1, err);
  EXPECT_GT(pid, 0) << err;
  if (pid <= 0) return -1;
  int status = 0;
  EXPECT_TRUE(reap_child(pid, std::chrono::steady_clock::now() + kBound, status));
  return status;
}

TEST(Launcher, AnOutsideProgramRunsWithTheDescriptorsItIsGiven) {
  Pipe p;
  // This binary as an outside program: role_argv written by hand would be a second dialect.
  const int status = run_program(role_argv("test_write", {std::to_string(p.w), "0"}), {p.w});
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kPeerOk) << describe_wait_status(status);
  EXPECT_EQ(p.read_byte(), kByte);
  // Not given the descriptor: the write fails.
  Pipe q;
  const int denied = run_program(role_argv("test_write", {std::to_string(q.w), "0"}), {});
  EXPECT_TRUE(WIFEXITED(denied) && WEXITSTATUS(denied) == kPeerChannelFailed) << describe_wait_status(denied);
  EXPECT_TRUE(no_children_left());
}

TEST(Launcher, AChildSaysWhenItsParentIsGoneOrItsRoleUnknown) {
  std::vector<std::string> argv = role_argv("test_write", {"1", "0"});
  // argv[3] is parent=<pid>: name a process that is not its parent.
  argv[3] = "parent=1";
  int status = run_program(argv, {});
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kPeerOrphaned) << describe_wait_status(status);
  argv = role_argv("test_write", {"1", "0"});
  argv[2] = "no_such_role";
  status = run_program(argv, {});
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kPeerUsage) << describe_wait_status(status);
  EXPECT_TRUE(no_children_left());
}

TEST(PeerKinds, EveryKindHasARowThatParsesBack) {
  for (PeerKind k : kAllPeers) {
    EXPECT_EQ(peer_def(k).kind, k);
    EXPECT_EQ(parse_peer(peer_name(k)), k);
  }
  EXPECT_FALSE(parse_peer("nope").has_value());
}

TEST(PeerKinds, RefusalsComeFromTheTableWithAReason) {
  EXPECT_NE(peer_refusal(PeerKind::kThread, PeerUse::kFarmWorker), "");
  EXPECT_NE(peer_refusal(PeerKind::kThread, PeerUse::kServer), "");
  EXPECT_EQ(peer_refusal(PeerKind::kThread, PeerUse::kLinkEnd), "");
  for (PeerKind k : {PeerKind::kFork, PeerKind::kSpawn}) {
    EXPECT_TRUE(crosses_processes(k));
    for (PeerUse u : {PeerUse::kLinkEnd, PeerUse::kTeamWorker, PeerUse::kFarmWorker, PeerUse::kGroupParty, PeerUse::kServer})
      EXPECT_EQ(peer_refusal(k, u), "") << peer_name(k);
  }
  // With another thread alive, fork is refused where the caller may have threads.
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread t([&] {
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return done; });
  });
  EXPECT_NE(peer_refusal(PeerKind::kFork, PeerUse::kTeamWorker), "");
  EXPECT_EQ(peer_refusal(PeerKind::kSpawn, PeerUse::kTeamWorker), "");
  {
    std::lock_guard<std::mutex> l(m);
    done = true;
  }
  cv.notify_all();
  t.join();
}

}  // namespace
}  // namespace ipcm
