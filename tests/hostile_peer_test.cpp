// Hostile peers (issue 18): a forked child acting as the peer writes garbage into one field of
// a structure ipcmeter shares with it, and the measuring side must end with a clear error that
// names the field and the value, within a bounded time, without reading or writing out of
// bounds (run these under the ASan build too), and leave nothing in /dev/shm.
//
// Each suite is one structure; its parameters are the corruptions, so the test names are the
// table: HostilePeer/<Structure>.<Outcome>/<corruption>. Every child first proves that the
// value it wrote is there (it reads it back, and exits non-zero otherwise), so a test whose
// corruption missed its field fails instead of passing on a structure nobody touched.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bench/compute/compute.h"
#include "bench/pool/pool.h"
#include "bench/sync/sync.h"
#include "harness/core/fault_hooks.h"
#include "harness/core/futex.h"
#include "harness/launch/party.h"
#include "harness/transports/fd_channel.h"
#include "harness/transports/transport.h"
#include "support.h"

namespace ipcm {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// How long the measuring side may take to say what is wrong: far below the peer timeout
// (kPeerTimeout), which is what a wait that missed the garbage would have run into.
constexpr auto kAnswerWithin = 3s;
// How long a child waits for the moment it should strike before it gives up (and fails).
constexpr auto kChildPatience = 5s;
// Exit codes of the hostile child.
constexpr int kWritten = 0, kNotWritten = 3, kNoSegment = 4, kNeverStarted = 5;

// ---- the hostile child ----

// Maps a named POSIX shared-memory segment ("/name") as any process of the same user can.
class Mapped {
 public:
  explicit Mapped(const std::string& slash_name) {
    const int fd = shm_open(slash_name.c_str(), O_RDWR, 0);
    if (fd < 0) return;
    struct stat st {};
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
      void* v = mmap(nullptr, std::size_t(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (v != MAP_FAILED) p = static_cast<std::byte*>(v), bytes = std::size_t(st.st_size);
    }
    close(fd);
  }
  ~Mapped() {
    if (p != nullptr) munmap(p, bytes);
  }
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  explicit operator bool() const { return p != nullptr; }
  std::byte* p = nullptr;
  std::size_t bytes = 0;
};

std::atomic<std::uint32_t>& word_at(const Mapped& m, std::size_t off) {
  return *reinterpret_cast<std::atomic<std::uint32_t>*>(m.p + off);
}

// Writes `v` and reads it back. `may_grow` allows for honest parties that count up the same
// word between the write and the read (the value then is v .. v + may_grow).
bool poke(const Mapped& m, std::size_t off, std::uint32_t v, std::uint32_t may_grow = 0) {
  if (off + sizeof(std::uint32_t) > m.bytes) return false;
  auto& w = word_at(m, off);
  w.store(v, std::memory_order_release);
  const std::uint32_t back = w.load(std::memory_order_acquire);
  return back - v <= may_grow;
}

// Forks the hostile peer: it runs `strike` and exits kWritten when the garbage is in place.
pid_t fork_hostile(const std::function<int()>& strike) {
  const pid_t pid = fork();
  if (pid == 0) _exit(strike());
  return pid;
}

// The child's exit: it must have written its garbage.
void expect_written(pid_t pid) {
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "hostile child died: status " << status;
  ASSERT_EQ(WEXITSTATUS(status), kWritten) << "the hostile child could not write its garbage (3: read back "
                                              "differs, 4: no segment, 5: the run never started)";
}

// The one segment of this process whose name ends in `suffix`, as "/name" for shm_open.
std::string my_segment(const std::string& suffix) {
  std::string found;
  for (const std::string& o : my_objects()) {
    if (o.rfind("/dev/shm/", 0) != 0 || o.size() < suffix.size() || o.compare(o.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    found = o.substr(std::strlen("/dev/shm"));
  }
  return found;
}

// Spins (in the child) until the 32-bit word at `off` differs from `from`.
bool wait_change(const Mapped& m, std::size_t off, std::uint32_t from) {
  const auto until = SteadyClock::now() + kChildPatience;
  while (word_at(m, off).load(std::memory_order_acquire) == from)
    if (SteadyClock::now() > until) return false;
  return true;
}

// Values a hostile peer is likely to leave.
constexpr std::uint32_t kRandomWord = 0x5A17C0DEu;
constexpr std::uint32_t kNegativeTwo = std::uint32_t(-2);  // -2 read as unsigned
constexpr std::uint32_t kMax = 0xFFFFFFFFu;

std::string value_text(std::uint32_t v) { return "value seen: " + std::to_string(v); }

// After every case: nothing named left behind and no child left.
void expect_clean() {
  EXPECT_TRUE(my_objects().empty()) << "left in /dev/shm: " << *my_objects().begin();
  EXPECT_TRUE(no_children_left());
}

// If the measuring side has not answered in time, the watchdog sets the cancel flag and then
// keeps waking the futex words it may sleep on (as the session's watchdog interrupts it): a
// ring wait that missed the garbage then returns kCancelled and fails the case, instead of
// hanging the test.
struct Watchdog {
  std::atomic<bool> cancel{false};
  std::atomic<bool> done{false};
  std::thread t;
  void arm(std::function<void()> wake) {
    t = std::thread([this, wake = std::move(wake)] {
      const auto until = SteadyClock::now() + kAnswerWithin;
      while (!done.load() && SteadyClock::now() < until) std::this_thread::sleep_for(5ms);
      cancel.store(true);
      while (!done.load()) {
        wake();
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  // Before the words it wakes are unmapped.
  void stop() {
    done.store(true);
    if (t.joinable()) t.join();
  }
  ~Watchdog() { stop(); }
};

// ---- shm_ring: slot stamps (the receiver's side) ----

struct StampCase {
  const char* name;
  std::size_t msg_bytes;  // > 240: one stamp line per slot; else a stamp in every line
  Wait wait;
  std::size_t line;      // which line's stamp of slot 0 is corrupted
  std::uint32_t stamp;   // the garbage
  bool while_waiting;    // written after the receiver started waiting (then woken as a sender would)
};

class ShmRingStamp : public testing::TestWithParam<StampCase> {};

TEST_P(ShmRingStamp, ReceiverEndsWithCorruptNamingTheStamp) {
  const StampCase& c = GetParam();
  {
    Watchdog dog;
    ChannelConfig cfg{.msg_bytes = c.msg_bytes, .depth = 1, .wait = c.wait, .cancel = &dog.cancel};
    const TransportDef* t = find_transport("shm_ring");
    ASSERT_NE(t, nullptr);
    Made<Link> link = t->create(cfg);
    ASSERT_TRUE(link) << link.error;
    const std::optional<ShmRingLayout> l = shm_ring_layout(*link.value);
    ASSERT_TRUE(l);
    ASSERT_EQ(l->small, c.msg_bytes <= 240) << "the case does not exercise the layout it names";
    ASSERT_LT(c.line, l->small ? l->stride / l->line : 1);
    // Direction 1 is peer -> parent: the parent receives there.
    const std::size_t off = l->stamp(1, 0, c.line);
    const std::string seg = "/" + l->segment;
    const pid_t child = fork_hostile([&] {
      const Mapped m(seg);
      if (!m) return kNoSegment;
      if (c.while_waiting) std::this_thread::sleep_for(100ms);
      if (!poke(m, off, c.stamp)) return kNotWritten;
      // As a sender does after publishing: wake a receiver asleep on the slot's last stamp.
      futex_wake_all(&word_at(m, l->stamp(1, 0, l->small ? l->stride / l->line - 1 : 0)));
      futex_wake_all(&word_at(m, off));
      return kWritten;
    });
    if (!c.while_waiting) expect_written(child);
    Made<Channel> ch = link.value->open_parent();
    ASSERT_TRUE(ch) << ch.error;
    const Mapped mine(seg);  // a second mapping: futex wakes reach the same words
    ASSERT_TRUE(mine);
    dog.arm([&] {
      for (std::size_t li = 0; li < (l->small ? l->stride / l->line : 1); ++li) futex_wake_all(&word_at(mine, l->stamp(1, 0, li)));
    });
    const auto t0 = SteadyClock::now();
    Bytes got;
    const Status st = ch.value->recv(got);
    const auto took = SteadyClock::now() - t0;
    dog.stop();
    if (c.while_waiting) expect_written(child);
    EXPECT_EQ(st.code, Status::kCorrupt) << st.describe();
    EXPECT_NE(st.describe().find("shm_ring: a slot stamp is neither"), std::string::npos) << st.describe();
    EXPECT_NE(st.describe().find(value_text(c.stamp)), std::string::npos) << st.describe();
    EXPECT_LT(took, kAnswerWithin);
  }
  expect_clean();
}

// stamp_of(m) = m + 1: the first message awaited is stamp 1, and slot 0 starts at 0.
INSTANTIATE_TEST_SUITE_P(
    HostilePeer, ShmRingStamp,
    testing::Values(StampCase{"large_random_word", 1024, Wait::kBlock, 0, kRandomWord, false},
                    StampCase{"large_max", 1024, Wait::kSpin, 0, kMax, false},
                    StampCase{"large_negative_as_unsigned", 1024, Wait::kHybrid, 0, kNegativeTwo, false},
                    StampCase{"large_sequence_jump", 1024, Wait::kBlock, 0, 1 + 7, false},
                    StampCase{"large_sequence_jump_while_asleep", 1024, Wait::kBlock, 0, 1 + 7, true},
                    StampCase{"large_random_word_while_spinning", 1024, Wait::kSpin, 0, kRandomWord, true},
                    StampCase{"small_first_line_random_word", 100, Wait::kBlock, 0, kRandomWord, false},
                    StampCase{"small_last_line_sequence_jump", 100, Wait::kSpin, 1, 1 + 3, false},
                    StampCase{"small_last_line_max_while_asleep", 100, Wait::kBlock, 1, kMax, true},
                    StampCase{"small_negative_as_unsigned_while_spinning", 100, Wait::kHybrid, 0, kNegativeTwo, true}),
    [](const testing::TestParamInfo<StampCase>& i) { return std::string(i.param.name); });

// ---- shm_ring: the receiver's consumed count (the sender's side) ----

struct ConsumedCase {
  const char* name;
  Wait wait;
  // The garbage, from the number of messages sent when it is read (the ring's slots).
  std::uint32_t (*value)(std::uint32_t sent);
};

class ShmRingConsumed : public testing::TestWithParam<ConsumedCase> {};

TEST_P(ShmRingConsumed, SenderEndsWithCorruptNamingTheCount) {
  const ConsumedCase& c = GetParam();
  {
    Watchdog dog;
    ChannelConfig cfg{.msg_bytes = 64, .depth = 1, .wait = c.wait, .cancel = &dog.cancel};
    const TransportDef* t = find_transport("shm_ring");
    Made<Link> link = t->create(cfg);
    ASSERT_TRUE(link) << link.error;
    const std::optional<ShmRingLayout> l = shm_ring_layout(*link.value);
    ASSERT_TRUE(l);
    const std::uint32_t garbage = c.value(std::uint32_t(l->slots));
    // Direction 0 is parent -> peer: the peer's count of it is what the parent's sender reads.
    const std::size_t off = l->consumed[0];
    const std::string seg = "/" + l->segment;
    expect_written(fork_hostile([&] {
      const Mapped m(seg);
      if (!m) return kNoSegment;
      return poke(m, off, garbage) ? kWritten : kNotWritten;
    }));
    Made<Channel> ch = link.value->open_parent();
    ASSERT_TRUE(ch) << ch.error;
    std::vector<std::byte> msg(64, std::byte{1});
    // A full ring's worth goes out on the sender's own credit, without reading the count.
    for (std::size_t i = 0; i < l->slots; ++i) ASSERT_TRUE(ch.value->send(Bytes(msg.data(), msg.size())));
    const Mapped mine(seg);
    ASSERT_TRUE(mine);
    dog.arm([&] { futex_wake_all(&word_at(mine, off)); });
    const auto t0 = SteadyClock::now();
    const Status st = ch.value->send(Bytes(msg.data(), msg.size()));
    dog.stop();
    EXPECT_EQ(st.code, Status::kCorrupt) << st.describe();
    EXPECT_NE(st.describe().find("shm_ring: the receiver's consumed count is outside [credit, sent]"), std::string::npos)
        << st.describe();
    EXPECT_NE(st.describe().find(value_text(garbage)), std::string::npos) << st.describe();
    EXPECT_LT(SteadyClock::now() - t0, kAnswerWithin);
  }
  expect_clean();
}

INSTANTIATE_TEST_SUITE_P(
    HostilePeer, ShmRingConsumed,
    testing::Values(ConsumedCase{"ahead_of_sent", Wait::kBlock, [](std::uint32_t sent) { return sent + 1; }},
                    ConsumedCase{"far_ahead", Wait::kSpin, [](std::uint32_t sent) { return sent + 100000; }},
                    ConsumedCase{"random_word", Wait::kHybrid, [](std::uint32_t) { return kRandomWord; }},
                    ConsumedCase{"max", Wait::kBlock, [](std::uint32_t) { return kMax; }},
                    ConsumedCase{"negative_as_unsigned", Wait::kSpin, [](std::uint32_t) { return kNegativeTwo; }}),
    [](const testing::TestParamInfo<ConsumedCase>& i) { return std::string(i.param.name); });

// ---- shm_ring: the header, read once by the end that attaches ----

struct HeaderCase {
  const char* name;
  std::size_t ShmRingLayout::*field;
  std::uint64_t value;
  const char* says;  // the start of the refusal
};

class ShmRingHeader : public testing::TestWithParam<HeaderCase> {};

TEST_P(ShmRingHeader, AttachRefusesNamingTheField) {
  const HeaderCase& c = GetParam();
  {
    ChannelConfig cfg{.msg_bytes = 1024, .depth = 1, .wait = Wait::kBlock};
    const TransportDef* t = find_transport("shm_ring");
    Made<Link> link = t->create(cfg);
    ASSERT_TRUE(link) << link.error;
    const std::optional<ShmRingLayout> l = shm_ring_layout(*link.value);
    ASSERT_TRUE(l);
    const std::size_t off = (*l).*c.field;
    const std::string seg = "/" + l->segment;
    expect_written(fork_hostile([&] {
      const Mapped m(seg);
      if (!m) return kNoSegment;
      auto* w = reinterpret_cast<std::atomic<std::uint64_t>*>(m.p + off);
      w->store(c.value);
      return w->load() == c.value ? kWritten : kNotWritten;
    }));
    // The end that attaches by name, as a process peer does (here in this process: the mapping
    // is a second one of the same segment).
    Made<Channel> peer = t->attach(link.value->peer_spec(), cfg, nullptr);
    ASSERT_FALSE(peer) << "attached to a ring whose header says " << c.name;
    EXPECT_NE(peer.error.find(std::string("shm_ring header: ") + c.says), std::string::npos) << peer.error;
    EXPECT_NE(peer.error.find(std::to_string(c.value)), std::string::npos) << peer.error;
  }
  expect_clean();
}

INSTANTIATE_TEST_SUITE_P(
    HostilePeer, ShmRingHeader,
    testing::Values(HeaderCase{"magic_random", &ShmRingLayout::magic, 0x0123456789abcdefull, "magic = "},
                    HeaderCase{"msg_bytes_max", &ShmRingLayout::msg_bytes, ~0ull, "msg_bytes = "},
                    HeaderCase{"slots_max", &ShmRingLayout::slots_field, ~0ull, "slots = "},
                    HeaderCase{"slots_zero", &ShmRingLayout::slots_field, 0, "slots = "},
                    HeaderCase{"slots_past_the_segment", &ShmRingLayout::slots_field, 1u << 20, "slots = "},
                    HeaderCase{"stride_smaller_than_the_message", &ShmRingLayout::stride_field, 64, "stride = "},
                    HeaderCase{"stride_negative_as_unsigned", &ShmRingLayout::stride_field, std::uint64_t(-64), "stride = "},
                    HeaderCase{"small_flag_flipped", &ShmRingLayout::small_field, 1, "small = "}),
    [](const testing::TestParamInfo<HeaderCase>& i) { return std::string(i.param.name); });

// ---- process_pool_shm: the chunks-finished word the parent waits on ----

struct PoolCase {
  const char* name;
  std::uint32_t (*value)(std::uint32_t chunks);
};

class PoolShmDone : public testing::TestWithParam<PoolCase> {};

TEST_P(PoolShmDone, RunEndsWithCorruptNamingTheWord) {
  const PoolCase& c = GetParam();
  const PoolJob job{8, 1, task_iterations(30000, calibrate_work_rate())};  // 8 chunks of 30 ms
  const std::uint32_t chunks = 8;
  const std::uint32_t garbage = c.value(chunks);
  {
    Made<PoolExecutor> ex = make_executor(Executor::kProcessPoolShm, 1);
    ASSERT_TRUE(ex) << ex.error;
    const std::string seg = my_segment("-pool");
    ASSERT_FALSE(seg.empty());
    const PoolShmLayout l = pool_shm_layout();
    // Strikes as soon as the job is published; the honest worker then counts on from the
    // garbage (at most `chunks` more), which stays out of range.
    const pid_t child = fork_hostile([&] {
      const Mapped m(seg);
      if (!m) return kNoSegment;
      if (!wait_change(m, l.generation, 0)) return kNeverStarted;
      return poke(m, l.done, garbage, chunks) ? kWritten : kNotWritten;
    });
    std::uint64_t sum = 0;
    std::string why;
    const auto t0 = SteadyClock::now();
    const Status st = ex.value->run(job, sum, why);
    EXPECT_LT(SteadyClock::now() - t0, kAnswerWithin);
    expect_written(child);
    EXPECT_EQ(st.code, Status::kCorrupt) << st.describe() << ": " << why;
    EXPECT_NE(why.find("process pool shared word 'done' = "), std::string::npos) << why;
    EXPECT_NE(st.describe().find("pool: shared word done (value seen: "), std::string::npos) << st.describe();
  }
  expect_clean();
}

INSTANTIATE_TEST_SUITE_P(
    HostilePeer, PoolShmDone,
    testing::Values(PoolCase{"one_past_the_chunks", [](std::uint32_t n) { return n + 1; }},
                    PoolCase{"random_word", [](std::uint32_t) { return kRandomWord; }},
                    PoolCase{"near_max", [](std::uint32_t n) { return kMax - 2 * n; }},
                    PoolCase{"negative_as_unsigned", [](std::uint32_t n) { return std::uint32_t(-4 * std::int64_t(n)); }}),
    [](const testing::TestParamInfo<PoolCase>& i) { return std::string(i.param.name); });

// ---- compute team: the done count the parent waits on each round ----

class ComputeTeamDone : public testing::TestWithParam<PoolCase> {};

TEST_P(ComputeTeamDone, RoundEndsWithCorruptNamingTheWord) {
  const PoolCase& c = GetParam();
  const std::uint32_t workers = 1;
  const std::uint32_t garbage = c.value(workers);
  {
    KernelSize size;
    size.cpu_elements = 1 << 19;  // a round long enough (tens of ms) for the child to strike inside it
    Made<ComputeTeam> team = ComputeTeam::start(Kernel::kCpu, PeerKind::kFork, workers, size);
    ASSERT_TRUE(team) << team.error;
    const std::string seg = my_segment("-compute");
    ASSERT_FALSE(seg.empty());
    const ComputeHeaderLayout l = compute_header_layout();
    std::uint32_t generation = 0;
    {
      const Mapped m(seg);
      ASSERT_TRUE(m);
      generation = word_at(m, l.generation).load();
    }
    const pid_t child = fork_hostile([&] {
      const Mapped m(seg);
      if (!m) return kNoSegment;
      if (!wait_change(m, l.generation, generation)) return kNeverStarted;
      return poke(m, l.done, garbage, workers) ? kWritten : kNotWritten;
    });
    std::string why;
    const auto t0 = SteadyClock::now();
    const Status st = team.value->round(why);
    EXPECT_LT(SteadyClock::now() - t0, kAnswerWithin);
    expect_written(child);
    EXPECT_EQ(st.code, Status::kCorrupt) << st.describe() << ": " << why;
    EXPECT_NE(why.find("compute team shared word 'done' = "), std::string::npos) << why;
    EXPECT_NE(st.describe().find("compute: shared counter (value seen: "), std::string::npos) << st.describe();
  }
  expect_clean();
}

INSTANTIATE_TEST_SUITE_P(
    HostilePeer, ComputeTeamDone,
    testing::Values(PoolCase{"one_past_the_workers", [](std::uint32_t n) { return n + 1; }},
                    PoolCase{"random_word", [](std::uint32_t) { return kRandomWord; }},
                    PoolCase{"near_max", [](std::uint32_t n) { return kMax - 2 * n; }}),
    [](const testing::TestParamInfo<PoolCase>& i) { return std::string(i.param.name); });

// ---- a party group's header (sync): the parties' finished count ----

class GroupHeaderFinished : public testing::TestWithParam<PoolCase> {};

TEST_P(GroupHeaderFinished, RunEndsWithAnErrorNamingTheWord) {
  const PoolCase& c = GetParam();
  const int parties = 2;
  const std::uint32_t garbage = c.value(parties);
  SyncPlan plan;
  plan.primitive = Primitive::kSemaphore;
  plan.peer = PeerKind::kFork;
  plan.parties = parties;
  plan.rounds = 20000;  // long enough that the parties are still passing the token when it strikes
  int child_exit = -1;
  plan.on_running = [&](const std::vector<pid_t>&) {
    const std::string seg = my_segment("-sync");
    const pid_t child = fork_hostile([&] {
      const Mapped m(seg);
      if (!m) return kNoSegment;
      return poke(m, offsetof(GroupHeader, finished), garbage, parties) ? kWritten : kNotWritten;
    });
    int status = 0;
    if (child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status)) child_exit = WEXITSTATUS(status);
  };
  const auto t0 = SteadyClock::now();
  const SyncResult r = run_sync(plan);
  EXPECT_LT(SteadyClock::now() - t0, 3 * kAnswerWithin);
  ASSERT_EQ(child_exit, kWritten);
  EXPECT_NE(r.error.find("group header word 'finished' = "), std::string::npos) << r.error;
  // The honest parties count on from the garbage: the value reported is the garbage plus at
  // most one per party.
  const std::size_t at = r.error.find("= ");
  ASSERT_NE(at, std::string::npos);
  const std::uint64_t seen = std::strtoull(r.error.c_str() + at + 2, nullptr, 10);
  EXPECT_GE(seen, garbage);
  EXPECT_LE(seen, std::uint64_t(garbage) + parties);
  expect_clean();
}

INSTANTIATE_TEST_SUITE_P(
    HostilePeer, GroupHeaderFinished,
    testing::Values(PoolCase{"random_word", [](std::uint32_t) { return kRandomWord; }},
                    PoolCase{"near_max", [](std::uint32_t n) { return kMax - 2 * n; }}),
    [](const testing::TestParamInfo<PoolCase>& i) { return std::string(i.param.name); });

// ---- a descriptor channel (pipe, socketpair, fifo, tcp): message framing ----
// No ipcmeter channel passes descriptors (no SCM_RIGHTS); what a peer controls on a byte stream
// is how many bytes it writes. A read is never longer than the message's room, so a short or
// long write can only end the link, never overflow the buffer.

struct FramingCase {
  const char* name;
  std::size_t bytes_written;  // by the peer before it exits; the message is 64 bytes
  int whole_messages;         // that recv() must still deliver before the end
};

class FdChannelFraming : public testing::TestWithParam<FramingCase> {};

TEST_P(FdChannelFraming, ShortOrLongWriteEndsAsClosedNotOverflow) {
  const FramingCase& c = GetParam();
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  const pid_t child = fork_hostile([&] {
    close(fds[0]);
    std::vector<std::byte> junk(c.bytes_written, std::byte{0xEE});
    return write(fds[1], junk.data(), junk.size()) == ssize_t(junk.size()) ? kWritten : kNotWritten;
  });
  close(fds[1]);
  expect_written(child);
  {
    ChannelConfig cfg{.msg_bytes = 64, .depth = 1, .wait = Wait::kBlock};
    FdChannel ch(fds[0], -1, cfg, true);
    Bytes got;
    for (int i = 0; i < c.whole_messages; ++i) ASSERT_TRUE(ch.recv(got)) << "message " << i;
    const Status st = ch.recv(got);
    EXPECT_EQ(st.code, Status::kClosed) << st.describe();
    EXPECT_NE(st.describe().find("end of file"), std::string::npos) << st.describe();
  }
  expect_clean();
}

INSTANTIATE_TEST_SUITE_P(HostilePeer, FdChannelFraming,
                         testing::Values(FramingCase{"short_message", 10, 0}, FramingCase{"one_byte", 1, 0},
                                         FramingCase{"message_and_a_half", 96, 1}, FramingCase{"long_stream_cut", 64 * 5 + 63, 5}),
                         [](const testing::TestParamInfo<FramingCase>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace ipcm
