// Groups of N parties for the many-party families (sync, state, fanin): threads of this
// process, forked children, or spawned copies of this binary, all running the same job
// function over one region of shared memory. Session (harness/launch/session.h) connects exactly two
// ends of a link; these families need N workers that meet in shared memory, so they get this
// smaller sibling: a shared region, a start gate, and a parent that reaps every party, kills
// the rest when one dies, and never waits forever.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness/core/limits.h"
#include "harness/launch/peer.h"
#include "harness/core/status.h"
#include "harness/transports/shm_segment.h"

namespace ipcm {

// The most parties one group may have (sweeps go to 2x CPUs; larger machines are capped).
inline constexpr int kMaxParties = 64;
// A group that has not finished this long after its gate opened is killed and reported.
inline constexpr std::chrono::seconds kGroupRunTimeout = 3 * kPeerTimeout;
// How often the parent looks at its parties while it waits for them.
inline constexpr std::chrono::milliseconds kGroupPoll{2};
// Room for a party's own account of why it failed.
inline constexpr std::size_t kPartyWhyBytes = 160;

// The start of every group's region; the job's own data follows at kGroupPayloadOffset.
struct GroupHeader {
  alignas(kCacheLine) std::atomic<std::uint32_t> ready{0};  // parties attached and waiting at the gate
  alignas(kCacheLine) std::atomic<std::uint32_t> gate{0};   // kGateClosed, kGateOpen, kGateAbort
  alignas(kCacheLine) std::atomic<std::uint32_t> finished{0};
  alignas(kCacheLine) std::atomic<std::uint32_t> cancel{0};  // parties in long waits poll it
  std::uint64_t start_tick = 0;                              // written by the parent as it opens the gate
  std::uint64_t finish_tick[kMaxParties]{};                  // each party's last tick of work
  std::uint64_t cpu_ns[kMaxParties]{};                       // CPU each party spent between gate and finish
  char why[kMaxParties][kPartyWhyBytes]{};
};
inline constexpr std::uint32_t kGateClosed = 0, kGateOpen = 1, kGateAbort = 2;
inline constexpr std::size_t kGroupPayloadOffset = (sizeof(GroupHeader) + 4095) / 4096 * 4096;

// What a party's job sees.
struct PartyContext {
  GroupHeader* header = nullptr;
  std::byte* payload = nullptr;
  int index = 0;    // 0 .. parties-1 within its group
  int parties = 0;  // in its group
  PeerKind kind = PeerKind::kThread;

  // Announces readiness and blocks until the parent opens the gate; false if it aborted.
  bool arrive_and_wait_start() noexcept;
  // Stamps finish_tick and the CPU spent since the gate opened.
  void mark_finished() noexcept;
  std::uint64_t cpu_at_start = 0;
  bool cancelled() const noexcept { return header->cancel.load(std::memory_order_relaxed) != 0; }
  // Records why the party failed (read by the parent); returns the exit code to end with.
  int fail(std::string_view why) noexcept;
};

// A job: returns kPeerOk or a failure code after calling ctx.fail(). The same function runs
// in a thread, a forked child and a spawned child.
using PartyFn = int (*)(PartyContext& ctx);
struct PartyJob {
  std::string_view name;
  PartyFn fn;
};
const PartyJob* find_party_job(std::string_view name);

class PartyGroup {
 public:
  // Starts `parties` parties of `job` over `region` (whose header the caller has zeroed by
  // making the region). Fails with a sentence if a party cannot be started.
  static Made<PartyGroup> start(PeerKind kind, std::string_view job, ShmSegment& region, int parties);
  ~PartyGroup();

  // Waits until every party waits at the gate; "" or why not.
  std::string wait_ready();
  // Stamps start_tick and lets every party go.
  void open_gate() noexcept;
  // Waits until cond() holds while every party is healthy; "" or the first failure (which
  // kills the rest, as wait_done does).
  std::string wait_for(const std::function<bool()>& cond);
  // Called when the group is stopped after a failure, before its threads are joined: wakes
  // thread parties blocked where the cancel flag cannot reach (e.g. a tbb queue's abort()).
  void set_on_cancel(std::function<void()> fn) { on_cancel_ = std::move(fn); }
  // Waits for every party to end; "" when all succeeded, else the first failure with the
  // parties' own words. Any failure (a party killed, an error, the timeout) kills the rest.
  std::string wait_done();
  // The latest finish_tick of the group (valid after wait_done succeeded).
  std::uint64_t last_finish_tick() const noexcept;
  GroupHeader& header() noexcept { return *header_; }
  // The party processes, for fault-injection tests (empty for threads).
  const std::vector<pid_t>& pids() const noexcept { return pids_; }
  // CPU time the parties spent between the gate and their finish, summed.
  std::uint64_t cpu_ns() const noexcept;

 private:
  PartyGroup() = default;
  std::string check_parties();
  void kill_all() noexcept;
  std::string describe_failure(int party, int wait_status, bool thread);

  PeerKind kind_ = PeerKind::kThread;
  ShmSegment* region_ = nullptr;
  GroupHeader* header_ = nullptr;
  int parties_ = 0;
  std::vector<pid_t> pids_;
  std::vector<bool> reaped_;
  std::vector<std::thread> threads_;
  std::unique_ptr<std::atomic<int>[]> thread_codes_;  // -1 while running
  std::function<void()> on_cancel_;
};

// Lets the calling thread run on every CPU the cpuset allows: parties must not inherit the
// parent's pinning to one CPU.
void unpin_this_thread() noexcept;

}  // namespace ipcm
