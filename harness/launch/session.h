// One benchmark run's link and peer: made before the timed loop, torn down after it, with a
// watchdog that notices a peer that died or stopped answering and cancels the channel.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "harness/core/kernel_counters.h"
#include "harness/core/limits.h"
#include "harness/core/message.h"
#include "harness/launch/peer.h"
#include "harness/transports/transport.h"

namespace ipcm {

struct SessionOptions {
  const TransportDef* transport = nullptr;
  PeerKind peer = PeerKind::kThread;
  Role role = Role::kEcho;
  ChannelConfig cfg;  // cancel is filled in by the session
  int peer_cpu = -1;
};

class Session {
 public:
  // Makes the link, starts the peer and waits until it says it is ready. Fails with a
  // sentence when the combination cannot run here or the peer does not come up.
  static Made<Session> start(const SessionOptions& opt);
  ~Session();

  Channel& channel() noexcept { return *channel_; }
  // The link's window in messages, as the system granted it (Link::window_msgs).
  std::optional<std::size_t> window_msgs() const { return link_->window_msgs(); }
  // Bumped by the workload after every message; the watchdog reads it to tell a slow peer
  // from a stuck one.
  std::atomic<std::uint64_t>& progress() noexcept { return progress_; }
  // The peer process, or -1 for a thread peer (fault-injection tests signal it).
  pid_t peer_pid() const noexcept { return pid_; }
  // The peer's threads, for counting what the kernel does for it: a thread peer's own thread,
  // or every thread of a process peer as it is now.
  std::vector<TaskRef> peer_tasks() const;
  // Both sides, for a row's kernel counts: the calling (measuring) thread and the peer's
  // threads; none when the peer's are not known, as one side alone would pass for both.
  std::vector<TaskRef> counted_tasks() const;
  // CPU time the peer has used so far (its thread, or its whole process).
  std::uint64_t peer_cpu_ns() const noexcept;

  // Sends stop(seq) and waits for the peer's ack(seq): after it returns, every message sent
  // before has been received and checked.
  Status request_stop(MessageSet& ms, std::uint64_t seq) noexcept;
  // Releases the peer (stop(seq + 1)) and waits for it to end; an exit other than success
  // is an error.
  Status finish(MessageSet& ms, std::uint64_t seq);

  // How often the watchdog has woken so far (tests: it must sleep while a run goes well).
  std::uint64_t watchdog_wakes() const noexcept { return watch_wakes_.load(std::memory_order_relaxed); }

  // The sentence for a failed status: what the watchdog saw, what the peer said, what failed.
  std::string explain(const Status& st);

 private:
  Session() = default;
  // Starts the peer (a thread or a process, as its kind says); "" or why it could not start.
  std::string start_peer(const PeerSpec& spec);
  void watch();
  void trip(std::string finding);
  void stop_watchdog();
  // Waits up to `patience` for the peer to end (then kills it) and reaps it; an exit other
  // than success is an error.
  Status reap(std::chrono::milliseconds patience);
  std::string peer_said();

  SessionOptions opt_;
  std::unique_ptr<Link> link_;
  std::unique_ptr<Channel> channel_;
  // Each on its own line: a thread peer spins reading cancel_ while the workload bumps
  // progress_ after every message, and sharing a line would cost the peer a miss per message.
  alignas(kCacheLine) std::atomic<bool> cancel_{false};
  alignas(kCacheLine) std::atomic<std::uint64_t> progress_{0};
  alignas(kCacheLine) char after_hot_fields_ = 0;

  // Process peers.
  pid_t pid_ = -1;
  int err_fd_ = -1;  // the peer's stderr, read when it fails
  bool reaped_ = false;
  int wait_status_ = 0;
  clockid_t peer_clock_{};
  bool have_peer_clock_ = false;

  // Thread peers.
  std::thread thread_;
  std::atomic<bool> thread_done_{false};
  // Set by the peer thread before it attaches, so it is there once the peer said ready.
  std::atomic<pid_t> thread_tid_{-1};
  int thread_code_ = 0;
  std::string thread_why_;

  // Watchdog.
  std::thread watchdog_;
  pthread_t parent_thread_{};
  std::mutex mu_;
  int stop_fd_ = -1;  // an eventfd written to end the watchdog's wait at once
  std::atomic<std::uint64_t> watch_wakes_{0};
  bool stop_watch_ = false;
  bool expect_exit_ = false;
  std::string finding_;
};

}  // namespace ipcm
