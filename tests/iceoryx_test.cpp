// The iceoryx transport's RouDi handling: a RouDi ipcmeter starts is gone with its objects once
// the link is; a RouDi someone else started is never touched, and used only when asked; what a
// killed run's RouDi left is swept only when the recorded RouDi is dead.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "iceoryx_hoofs/internal/relocatable_pointer/base_relative_pointer.hpp"

#include "bench/pingpong/pingpong.h"
#include "harness/launch/session.h"
#include "harness/transports/roudi.h"
#include "tests/support.h"

namespace ipcm {
namespace {

using namespace std::chrono_literals;

SessionOptions options(PeerKind peer) {
  SessionOptions o;
  o.transport = find_transport("iceoryx");
  o.peer = peer;
  o.role = Role::kEcho;
  o.cfg.msg_bytes = 64;
  o.cfg.depth = 1;
  o.cfg.wait = Wait::kBlock;
  return o;
}

// A few round trips and a clean finish; "" or what failed.
std::string round_trips(Session& s) {
  MessageSet ms(64);
  Histogram h;
  std::uint64_t seq = 0, n = 16;
  Status st = pingpong_loop(s.channel(), ms, h, s.progress(), 0, seq, [&] { return n-- > 0; });
  if (st) st = s.request_stop(ms, seq);
  if (st) st = s.finish(ms, seq);
  return st ? "" : s.explain(st);
}

std::vector<std::string> present(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& p : paths)
    if (exists(p)) out.push_back(p);
  return out;
}

// The tests start and stop RouDi: with one running that neither they nor ipcmeter started,
// they would touch it, so they do not run. One this process started (an earlier test's) is
// stopped first, as the end of a run would.
#define SKIP_IF_A_ROUDI_RUNS()                                                                   \
  stop_own_roudi();                                                                              \
  if (const auto other = foreign_roudi())                                                        \
  GTEST_SKIP() << "a RouDi (pid " << *other << ") is running; these tests need the machine's "   \
                  "RouDi objects to themselves"

TEST(Iceoryx, RoudiStartedByIpcmeterIsGoneAfterwardsWithItsObjects) {
  SKIP_IF_A_ROUDI_RUNS();
  ASSERT_TRUE(present(roudi_object_paths()).empty()) << "RouDi objects left by someone: " << present(roudi_object_paths())[0];
  const std::set<std::string> before = my_objects();
  const unsigned starts = iceoryx_json()["roudi_starts"];
  for (PeerKind peer : kAllPeers) {
    Made<Session> s = Session::start(options(peer));
    ASSERT_TRUE(s) << peer_name(peer) << ": " << s.error;
    // Ours: recorded, and not taken for someone else's.
    EXPECT_TRUE(exists(roudi_record_path()));
    EXPECT_TRUE(exists("/dev/shm/iceoryx_mgmt"));
    EXPECT_FALSE(foreign_roudi().has_value());
    EXPECT_EQ(round_trips(*s.value), "") << peer_name(peer);
    s.value.reset();
    EXPECT_EQ(my_objects(), before) << "named objects left behind";
    EXPECT_TRUE(no_children_left()) << "a peer was not reaped";
  }
  // One RouDi served the three rows.
  EXPECT_EQ(unsigned(iceoryx_json()["roudi_starts"]), starts + 1);
  EXPECT_EQ(iceoryx_json()["started_by_ipcmeter"], true);
  const pid_t roudi = iceoryx_json()["roudi_pid"];
  // The end of the run.
  stop_own_roudi();
  EXPECT_NE(kill(roudi, 0), 0) << "RouDi still runs";
  EXPECT_EQ(present(roudi_object_paths()), std::vector<std::string>{});
  EXPECT_FALSE(exists(roudi_record_path()));
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1) << "RouDi or a peer was not reaped";
}

// Reads `path` until `what` occurs `count` times in it or `limit` passes.
bool wait_for_count(const std::string& path, const std::string& what, int count, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    int n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    if (n >= count) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(Iceoryx, ForeignRoudiIsNotTouchedAndUsedOnlyWhenAsked) {
  SKIP_IF_A_ROUDI_RUNS();
  const std::string log = private_dir() + "/foreign-roudi.log";
  const int fd = open(log.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  std::string err;
  // Someone else's RouDi, as a user would start it (default config).
  const pid_t roudi = launch_program("/usr/bin/iox-roudi", {"iox-roudi"}, {}, fd, err, true);
  close(fd);
  ASSERT_GT(roudi, 0) << err;
  // On every way out of the test, as its owner would stop it.
  struct Stop {
    pid_t pid;
    void now() {
      int status = 0;
      if (pid > 0 && kill(pid, SIGTERM) == 0) reap_child(pid, std::chrono::steady_clock::now() + 10s, status);
      pid = -1;
    }
    ~Stop() { now(); }
  } stop{roudi};
  ASSERT_TRUE(wait_for_count(log, "RouDi is ready for clients", 1, 90s));
  const std::vector<std::string> its_objects = present(roudi_object_paths());
  EXPECT_FALSE(its_objects.empty());

  Made<Session> refused = Session::start(options(PeerKind::kThread));
  EXPECT_FALSE(refused);
  EXPECT_NE(refused.error.find("a RouDi that ipcmeter did not start is running (pid " + std::to_string(roudi) + ")"),
            std::string::npos)
      << refused.error;
  EXPECT_NE(refused.error.find("--iceoryx=use-running"), std::string::npos) << refused.error;
  EXPECT_FALSE(exists(roudi_record_path())) << "ipcmeter recorded a RouDi it did not start";

  // With --iceoryx=use-running the rows go through it: the suite's binary (the default profile:
  // quick narrows a library transport to its fork peer), in a process of its
  // own (this one has already registered with another RouDi, which iceoryx's relative pointers
  // do not expect within one process).
  const std::string out = private_dir() + "/use-running.json";
  const int quiet = open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t run = launch_program(IPCM_BINARY,
                                   {IPCM_BINARY, "--iceoryx=use-running", "--profile", "default", "--benchmark_repetitions=1",
                                    "--benchmark_min_time=0.01",
                                    "--benchmark_filter=pingpong/transport:iceoryx/peer:(thread|fork|spawn)/size:64/",
                                    "--benchmark_out_format=json", "--benchmark_out=" + out},
                                   {}, quiet, err, true);
  close(quiet);
  ASSERT_GT(run, 0) << err;
  int run_status = -1;
  ASSERT_TRUE(reap_child(run, std::chrono::steady_clock::now() + 120s, run_status));
  ASSERT_TRUE(WIFEXITED(run_status) && WEXITSTATUS(run_status) == 0) << describe_wait_status(run_status);
  std::ifstream in(out);
  const nlohmann::json results = nlohmann::json::parse(in);
  ASSERT_EQ(results["benchmarks"].size(), 3u);
  for (const auto& b : results["benchmarks"])
    EXPECT_FALSE(b.value("error_occurred", false)) << b["name"] << ": " << b.value("error_message", "");
  EXPECT_EQ(results["ipcmeter"]["iceoryx"]["started_by_ipcmeter"], false);
  EXPECT_EQ(results["ipcmeter"]["iceoryx"]["roudi_pid"], roudi);
  unlink(out.c_str());

  // A peer that ends mid-row: the row says why, and the run ends (the parent leaves its runtime
  // registered rather than deregister through a RouDi it may not replace; distrust_roudi).
  setenv("IPCMETER_FAULT", "exit:20", 1);
  const int quiet2 = open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t struck = launch_program(IPCM_BINARY,
                                      {IPCM_BINARY, "--iceoryx=use-running", "--profile", "default", "--benchmark_repetitions=1",
                                       "--benchmark_min_time=0.5", "--benchmark_filter=pingpong/transport:iceoryx/peer:fork/size:64/",
                                       "--benchmark_out_format=json", "--benchmark_out=" + out},
                                      {}, quiet2, err, true);
  unsetenv("IPCMETER_FAULT");
  close(quiet2);
  ASSERT_GT(struck, 0) << err;
  ASSERT_TRUE(reap_child(struck, std::chrono::steady_clock::now() + 120s, run_status));
  ASSERT_TRUE(WIFEXITED(run_status) && WEXITSTATUS(run_status) == 0) << describe_wait_status(run_status);
  std::ifstream in2(out);
  const nlohmann::json struck_results = nlohmann::json::parse(in2);
  ASSERT_EQ(struck_results["benchmarks"].size(), 1u);
  EXPECT_TRUE(struck_results["benchmarks"][0].value("error_occurred", false));
  EXPECT_NE(struck_results["benchmarks"][0].value("error_message", "").find("exit"), std::string::npos)
      << struck_results["benchmarks"][0].value("error_message", "");
  unlink(out.c_str());
  // RouDi drops the struck run's two runtimes (the dead peer's, the parent's left registered)
  // once their keep-alives stop. iceoryx 2.0's RouDi aborts if it is stopped before that: its
  // shutdown signals every registered process and takes a gone one for a failure.
  EXPECT_TRUE(wait_for_count(log, "--> removing it", 2, 30s));

  // Still running, its objects where they were, no second RouDi.
  EXPECT_EQ(kill(roudi, 0), 0);
  EXPECT_EQ(foreign_roudi().value_or(-1), roudi);
  EXPECT_EQ(present(roudi_object_paths()), its_objects);

  stop.now();
  EXPECT_EQ(present(roudi_object_paths()), std::vector<std::string>{});
  unlink(log.c_str());
}

// The address ranges iceoryx's segments are mapped at in this process now: the relative-pointer
// registry's bases, each with the length of the mapping that starts there (/proc/self/maps).
std::vector<std::pair<void*, std::size_t>> registered_segments() {
  std::vector<std::pair<void*, std::size_t>> out;
  using Rp = iox::rp::BaseRelativePointer;
  for (Rp::id_t id = 1; id < 64; ++id) {
    void* base = Rp::getBasePtr(id);
    if (base == nullptr) continue;
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
      unsigned long long from = 0, to = 0;
      if (std::sscanf(line.c_str(), "%llx-%llx", &from, &to) == 2 && from == reinterpret_cast<std::uintptr_t>(base))
        out.push_back({base, std::size_t(to - from)});
    }
  }
  return out;
}

// The crash of the first iceoryx stream row in a run with other library rows (SIGSEGV in
// SubscriberPortUser::tryGetChunk, and a forked peer's in SegmentManager::getSegmentMappings):
// between rows the runtime is destroyed and its segments unmapped, but iceoryx 2.0 keeps their
// bases in its process-wide relative-pointer registry and, when the next runtime maps them at
// other addresses (other libraries' threads and buffers took the old ones), ignores the new
// registration; every relative pointer then resolves into memory that is no longer iceoryx's.
// Here the old ranges are taken on purpose (PROT_NONE), so the next runtime must map elsewhere,
// and rows over every peer must still run. In a process of its own (gtest re-executes the
// binary): before the fix it died of SIGSEGV.
TEST(Iceoryx, RuntimeMadeAgainAtOtherAddressesWorks) {
  SKIP_IF_A_ROUDI_RUNS();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // A lambda: the statement's commas would split EXPECT_EXIT's arguments.
  const auto made_again = [] {
    bool ok = true;
    std::vector<std::pair<void*, std::size_t>> old;
    {
      Made<Session> s = Session::start(options(PeerKind::kThread));
      ok = s && round_trips(*s.value).empty();
      old = registered_segments();
    }
    ok = ok && !old.empty();
    // The runtime is gone with the link: its ranges are free; take them.
    // (EEXIST: something took a range already, which is as good.)
    for (const auto& [base, len] : old) {
      void* got = mmap(base, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      ok = ok && (got == base || (got == MAP_FAILED && errno == EEXIST));
    }
    for (PeerKind peer : kAllPeers) {
      Made<Session> s = Session::start(options(peer));
      const std::string why = s ? round_trips(*s.value) : s.error;
      if (!why.empty()) std::fprintf(stderr, "%s: %s\n", std::string(peer_name(peer)).c_str(), why.c_str());
      ok = ok && why.empty();
    }
    stop_own_roudi();
    std::exit(ok ? 0 : 1);
  };
  EXPECT_EXIT(made_again(), testing::ExitedWithCode(0), "");
  // A crashed child's RouDi dies with it (its death signal) and leaves its objects: swept here,
  // as the next run would, once that RouDi is gone, so the tests after this one find the
  // machine clean.
  long roudi = 0;
  if (std::ifstream record(roudi_record_path()); record) {
    std::string text;
    std::getline(record, text);
    std::sscanf(text.c_str(), "roudi=%ld", &roudi);
  }
  for (int i = 0; i < 500 && roudi > 0 && kill(pid_t(roudi), 0) == 0; ++i) std::this_thread::sleep_for(10ms);
  sweep_stale_roudi();
  EXPECT_EQ(present(roudi_object_paths()), std::vector<std::string>{});
  EXPECT_FALSE(exists(roudi_record_path()));
}

void write_record(pid_t roudi, pid_t owner) {
  const int fd = open(roudi_record_path().c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  const std::string text = "roudi=" + std::to_string(roudi) + " ipcmeter=" + std::to_string(owner) + "\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), ssize_t(text.size()));
  close(fd);
}

void touch(const std::string& path) {
  const int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << path;
  close(fd);
}

TEST(Iceoryx, StaleRoudiObjectsAreSweptOnlyWhenTheRecordedRoudiIsDead) {
  SKIP_IF_A_ROUDI_RUNS();
  ASSERT_FALSE(exists(roudi_record_path()));
  // What a SIGKILLed run leaves (as files: the sweep's checks are the owner and the type).
  const std::vector<std::string> left = {"/dev/shm/iceoryx_mgmt", "/tmp/roudi.lock", "/tmp/iox-unique-roudi.lock"};

  // A live recorded RouDi (any live process stands in for it): nothing is touched.
  const pid_t live = fork();
  if (live == 0) {
    pause();
    _exit(0);
  }
  write_record(live, dead_pid());
  for (const std::string& p : left) touch(p);
  EXPECT_EQ(sweep_stale_roudi(), std::vector<std::string>{});
  EXPECT_EQ(present(left), left);
  EXPECT_TRUE(exists(roudi_record_path()));
  kill(live, SIGKILL);
  waitpid(live, nullptr, 0);

  // Dead now: everything goes, the record too.
  const std::vector<std::string> removed = sweep_stale_roudi();
  EXPECT_EQ(present(left), std::vector<std::string>{});
  EXPECT_FALSE(exists(roudi_record_path()));
  for (const std::string& p : left) EXPECT_NE(std::find(removed.begin(), removed.end(), p), removed.end()) << p;
}

// A peer killed at any moment of a run of round trips, inside its publish too (where it holds a
// port lock iceoryx 2.0 does not make robust), ends its row with the reason; the parent never
// hangs in its teardown (it did in 1 of 15 such kills, deregistering from a RouDi blocked on the
// dead peer's lock), RouDi is replaced, the next row runs, and nothing is left.
TEST(Iceoryx, KilledPeersEndTheirRowAndTheNextRowRuns) {
  SKIP_IF_A_ROUDI_RUNS();
  const std::set<std::string> before = my_objects();
  const int strikes = std::getenv("IPCM_IOX_STRIKES") ? std::atoi(std::getenv("IPCM_IOX_STRIKES")) : 6;
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_us(0, 3000);
  for (int i = 0; i < strikes; ++i) {
    SessionOptions o = options(i % 2 == 0 ? PeerKind::kFork : PeerKind::kSpawn);
    Made<Session> s = Session::start(o);
    ASSERT_TRUE(s) << "strike " << i << ": " << s.error;
    const pid_t peer = s.value->peer_pid();
    const int wait_us = delay_us(rng);
    std::thread striker([peer, wait_us] {
      std::this_thread::sleep_for(std::chrono::microseconds(wait_us));
      kill(peer, SIGKILL);
    });
    MessageSet ms(64);
    Histogram h;
    std::uint64_t seq = 0;
    const Status st = pingpong_loop(s.value->channel(), ms, h, s.value->progress(), 0, seq, [] { return true; });
    striker.join();
    EXPECT_FALSE(st) << "strike " << i;
    const std::string why = s.value->explain(st);
    EXPECT_NE(why.find("Killed"), std::string::npos) << "strike " << i << ": " << why;
    s.value.reset();  // the teardown that hung
  }
  Made<Session> s = Session::start(options(PeerKind::kFork));
  ASSERT_TRUE(s) << s.error;
  EXPECT_EQ(round_trips(*s.value), "");
  s.value.reset();
  stop_own_roudi();
  EXPECT_EQ(present(roudi_object_paths()), std::vector<std::string>{});
  EXPECT_EQ(my_objects(), before) << "named objects left behind";
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1) << "RouDi or a peer was not reaped";
}

}  // namespace
}  // namespace ipcm
