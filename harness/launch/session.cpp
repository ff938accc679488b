#include "harness/launch/session.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/clock.h"
#include "harness/core/env.h"
#include "harness/transports/fd_channel.h"
#include "harness/launch/launcher.h"
#include "harness/core/limits.h"
#include "harness/core/names.h"

namespace ipcm {
namespace {

// How much of a failed peer's stderr is kept for the error message.
constexpr std::size_t kPeerStderrKeep = 512;

// After the watchdog gives up on a peer, how long the blocked side gets to notice before the
// run is declared wedged. It covers kExitGrace plus the teardown.
constexpr auto kWedgedGrace = std::chrono::seconds(5);
// How long a peer whose channel closed gets to finish exiting before it is killed.
constexpr auto kExitGrace = std::chrono::milliseconds(1000);

// Pins a thread to these CPUs (negative ones ignored); none leaves it where it is.
bool pin_thread(pthread_t t, const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus)
    if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
  if (CPU_COUNT(&set) == 0) return true;
  return pthread_setaffinity_np(t, sizeof set, &set) == 0;
}

// The CPUs the process was started with, read before main() pins its thread to the measuring
// CPU (namespace-scope initialisers run first), so the watchdog stays within what the user
// allowed.
const std::vector<int> kStartupCpus = thread_affinity();

// Where the watchdog runs. It wakes every kWatchdogPoll for a few microseconds, and a thread
// starts with its creator's affinity: left alone it would share the measuring CPU and preempt
// the thread that reads the clock, inside a timed interval. It goes to CPUs neither side
// uses; with two CPUs only the peer's is left. There a wake-up costs nothing while the peer
// waits in a blocking receive and otherwise delays one echo, no worse than on the measuring
// CPU, and the measuring thread (its clock reads, its CPU time, Google Benchmark's
// bookkeeping) is never preempted by it. A caller pinned to no single CPU has no measuring
// CPU to keep clear; with one CPU there is no choice. Returns the CPUs, or none to stay put.
std::vector<int> watchdog_cpus(int peer_cpu) {
  const std::vector<int> caller = thread_affinity();
  if (caller.size() != 1) return {};
  std::vector<int> spare, not_measuring;
  for (int cpu : kStartupCpus) {
    if (cpu == caller.front()) continue;
    not_measuring.push_back(cpu);
    if (cpu != peer_cpu) spare.push_back(cpu);
  }
  return spare.empty() ? not_measuring : spare;
}

// A descriptor that becomes readable when the process ends (pidfd_open, Linux 5.3), or -1.
int open_pidfd(pid_t pid) noexcept { return int(syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

Made<Session> Session::start(const SessionOptions& opt) {
  std::unique_ptr<Session> s(new Session());
  s->opt_ = opt;
  s->opt_.cfg.cancel = &s->cancel_;
  s->parent_thread_ = pthread_self();
  const TransportDef& def = *opt.transport;
  // The peer-kind table's refusal first, so a kind not offered as a link end says why.
  if (std::string why = peer_refusal(opt.peer, PeerUse::kLinkEnd); !why.empty()) return Made<Session>::Fail(why);
  if (std::string why = def.refusal(opt.peer, opt.cfg.msg_bytes); !why.empty()) return Made<Session>::Fail(why);

  Made<Link> link = def.create(s->opt_.cfg);
  if (!link) return Made<Session>::Fail(link.error);
  s->link_ = std::move(link.value);
  const PeerSpec spec = s->link_->peer_spec();

  if (std::string why = s->start_peer(spec); !why.empty()) return Made<Session>::Fail(why);

  s->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->stop_fd_ < 0) return Made<Session>::Fail(sys_error("eventfd for the watchdog"));
  s->watchdog_ = std::thread([p = s.get(), cpus = watchdog_cpus(opt.peer_cpu)] {
    pin_thread(pthread_self(), cpus);
    p->watch();
  });

  Made<Channel> ch = s->link_->open_parent();
  if (!ch) return Made<Session>::Fail(s->explain(Status::Closed(ch.error.c_str())));
  s->channel_ = std::move(ch.value);
  Bytes ready;
  Status st = s->channel_->recv(ready);
  if (st) st = verify_message(ready, opt.cfg.msg_bytes, MsgKind::kAck, 0);
  if (!st) return Made<Session>::Fail("peer did not come up: " + s->explain(st));
  return {std::move(s), {}};
}

// The peer through the launcher: a thread runs the role here, over the link object itself (a
// link within one process may need it); a process gets the link role's arguments and the
// descriptors the spec names, with its stderr on a pipe read when it fails.
std::string Session::start_peer(const PeerSpec& spec) {
  LaunchSpec ls;
  std::string err;
  if (!crosses_processes(opt_.peer)) {
    ls.body = [this, spec] {
      thread_tid_.store(this_thread_task().tid);
      pin_thread(pthread_self(), {opt_.peer_cpu});
      Made<Channel> ch = opt_.transport->attach(spec, opt_.cfg, link_.get());
      if (!ch) {
        thread_code_ = kPeerAttachFailed;
        thread_why_ = ch.error;
      } else {
        thread_code_ = run_role(*ch.value, opt_.role, opt_.cfg.msg_bytes, thread_why_);
      }
      ch.value.reset();
      thread_done_.store(true, std::memory_order_release);
      return thread_code_;
    };
    Launched l = launch(opt_.peer, std::move(ls), err);
    thread_ = std::move(l.thread);
    have_peer_clock_ = pthread_getcpuclockid(thread_.native_handle(), &peer_clock_) == 0;
    return "";
  }
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) return sys_error("pipe2");
  err_fd_ = errpipe[0];
  fcntl(err_fd_, F_SETFL, O_NONBLOCK);
  PeerArgs args{opt_.transport, opt_.role, opt_.cfg, opt_.peer_cpu, spec};
  ls.role = kLinkPeerRole;
  ls.args = peer_role_args(args);
  ls.inherit = spec.fds;
  ls.stderr_fd = errpipe[1];
  pid_ = launch(opt_.peer, std::move(ls), err).pid;
  close(errpipe[1]);
  if (pid_ < 0) return err;
  link_->close_peer_side();
  have_peer_clock_ = clock_getcpuclockid(pid_, &peer_clock_) == 0;
  return "";
}

std::vector<TaskRef> Session::peer_tasks() const {
  if (crosses_processes(opt_.peer)) return pid_ > 0 ? tasks_of_process(pid_) : std::vector<TaskRef>{};
  const pid_t tid = thread_tid_.load();
  if (tid < 0) return {};
  return {{getpid(), tid}};
}

std::vector<TaskRef> Session::counted_tasks() const {
  std::vector<TaskRef> tasks = peer_tasks();
  if (!tasks.empty()) tasks.insert(tasks.begin(), this_thread_task());
  return tasks;
}

std::uint64_t Session::peer_cpu_ns() const noexcept { return have_peer_clock_ ? cpu_ns_of(peer_clock_) : 0; }

Status Session::request_stop(MessageSet& ms, std::uint64_t seq) noexcept {
  if (Status st = channel_->send(ms.stamp(MsgKind::kStop, seq)); !st) return st;
  Bytes ack;
  if (Status st = channel_->recv(ack); !st) return st;
  return verify_message(ack, ms.size(), MsgKind::kAck, seq);
}

Status Session::finish(MessageSet& ms, std::uint64_t seq) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    expect_exit_ = true;
  }
  if (Status st = channel_->send(ms.stamp(MsgKind::kStop, seq + 1)); !st) return st;
  return reap(peer_timeout());
}

Status Session::reap(std::chrono::milliseconds patience) {
  const auto until = Clock::now() + patience;
  if (!crosses_processes(opt_.peer)) {
    if (!thread_.joinable()) return Status::Ok();
    while (!thread_done_.load(std::memory_order_acquire)) {
      if (Clock::now() >= until) {
        // Wake the peer thread wherever it waits: the flag, a signal, the link.
        cancel_.store(true);
        pthread_kill(thread_.native_handle(), SIGUSR1);
        link_->interrupt();
      }
      std::this_thread::sleep_for(kReapPoll);
    }
    // The watchdog also touches thread_; it must be gone before the join.
    stop_watchdog();
    thread_.join();
    if (thread_code_ != kPeerOk) return Status::Closed("the peer thread failed");
    return Status::Ok();
  }
  if (pid_ < 0 || reaped_) return Status::Ok();
  reap_child(pid_, until, wait_status_);
  reaped_ = true;
  stop_watchdog();
  if (!WIFEXITED(wait_status_) || WEXITSTATUS(wait_status_) != kPeerOk) return Status::Closed("the peer process failed");
  return Status::Ok();
}

// Each pass sleeps until stop, the peer's death (its pidfd readable) or the tick, whichever
// comes first: while a run goes well it wakes on the peer's CPU only kProgressChecksPerTimeout
// times per peer_timeout() (why: the comment on that constant in limits.h).
void Session::watch() {
  int pidfd = pid_ > 0 ? open_pidfd(pid_) : -1;
  const auto progress_tick = std::chrono::duration_cast<std::chrono::milliseconds>(peer_timeout()) /
                             kProgressChecksPerTimeout;
  // Without a pidfd a dead process peer is only seen by looking, as often as before.
  const auto calm_tick = pid_ > 0 && pidfd < 0 ? std::min(progress_tick, std::chrono::milliseconds(kWatchdogPoll))
                                               : progress_tick;
  std::uint64_t last = progress_.load(std::memory_order_relaxed);
  auto last_change = Clock::now();
  Clock::time_point tripped_at{};
  bool seen_trip = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_watch_) {
    const auto tick = cancel_.load() ? std::chrono::milliseconds(kWatchdogPoll) : calm_tick;
    lock.unlock();
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {pidfd, POLLIN, 0}};
    const int ready = poll(fds, pidfd >= 0 ? 2 : 1, int(tick.count()));
    watch_wakes_.fetch_add(1, std::memory_order_relaxed);
    lock.lock();
    if (stop_watch_) break;
    if (ready > 0 && pidfd >= 0 && fds[1].revents != 0) {
      // It ended (or the descriptor failed): either way the pidfd has nothing more to say,
      // and keeping it would wake the loop at once forever. ended_status below reports it.
      close(pidfd);
      pidfd = -1;
    }
    if (cancel_.load() && !seen_trip) {
      seen_trip = true;
      tripped_at = Clock::now();
    }
    if (!cancel_.load()) {
      if (pid_ > 0 && !expect_exit_) {
        // Look without reaping; the main thread reaps.
        if (const std::optional<int> status = ended_status(pid_)) {
          lock.unlock();
          trip("peer (pid " + std::to_string(pid_) + ") " + describe_wait_status(*status));
          lock.lock();
          continue;
        }
      }
      const std::uint64_t now_progress = progress_.load(std::memory_order_relaxed);
      if (now_progress != last) {
        last = now_progress;
        last_change = Clock::now();
      } else if (Clock::now() - last_change > peer_timeout()) {
        std::string finding = "peer stopped answering for " + std::to_string(peer_timeout().count()) + " s and was killed";
        // Record why before the kill: the kill closes the peer's end, and a reader that
        // sees end-of-file before the finding is set would blame the peer's death instead.
        if (finding_.empty()) finding_ = finding;
        if (pid_ > 0) kill(pid_, SIGKILL);
        lock.unlock();
        trip(std::move(finding));
        lock.lock();
      }
    } else {
      // The cancelled side normally returns within a poll or two and tears the session
      // down. Still blocked long after: it waits on a lock the dead peer held (a transport
      // whose locks are not robust). Waiting longer would hang the whole run.
      if (Clock::now() - tripped_at > kWedgedGrace) {
        const std::string why = std::string(opt_.transport->name) + " is wedged: " + finding_ +
                                ", and the link stayed blocked (a lock the peer held is not robust)";
        abandon_run(why.c_str());
      }
      // Repeat the wake-up: a signal that arrives just before a blocking call is lost.
      pthread_kill(parent_thread_, SIGUSR1);
      if (thread_.joinable() && !thread_done_.load()) pthread_kill(thread_.native_handle(), SIGUSR1);
      link_->interrupt();
    }
  }
  if (pidfd >= 0) close(pidfd);
}

void Session::trip(std::string finding) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finding_.empty()) finding_ = std::move(finding);
  }
  cancel_.store(true);
  pthread_kill(parent_thread_, SIGUSR1);
  if (thread_.joinable() && !thread_done_.load()) pthread_kill(thread_.native_handle(), SIGUSR1);
  link_->interrupt();
}

void Session::stop_watchdog() {
  if (!watchdog_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_watch_ = true;
  }
  const std::uint64_t one = 1;
  // Cannot fail short of a broken descriptor: the counter is far from its limit.
  IPCM_CHECK(write(stop_fd_, &one, sizeof one) == sizeof one);
  watchdog_.join();
}

std::string Session::peer_said() {
  if (!crosses_processes(opt_.peer)) return thread_done_.load() ? thread_why_ : std::string();
  std::string out;
  if (err_fd_ < 0) return out;
  char buf[256];
  for (;;) {
    const ssize_t n = read(err_fd_, buf, sizeof buf);
    if (n <= 0) break;
    if (out.size() < kPeerStderrKeep) out.append(buf, std::size_t(n));
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string Session::explain(const Status& st) {
  std::string finding;
  {
    std::lock_guard<std::mutex> lock(mu_);
    finding = finding_;
  }
  // The other end closed: the peer is exiting or dead. Reap it (briefly) to say how it ended.
  if (pid_ > 0 && !reaped_ && finding.empty() && st.code == Status::kClosed) {
    reap(kExitGrace);
    finding = "peer (pid " + std::to_string(pid_) + ") " + describe_wait_status(wait_status_);
  }
  std::string out = st.describe();
  if (!finding.empty()) out += "; " + finding;
  const std::string said = peer_said();
  if (!said.empty()) out += "; " + said;
  return out;
}

Session::~Session() {
  if (!crosses_processes(opt_.peer)) {
    reap(std::chrono::milliseconds(0));
  } else if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    reap(std::chrono::milliseconds(0));
  }
  stop_watchdog();
  if (stop_fd_ >= 0) close(stop_fd_);
  channel_.reset();
  if (err_fd_ >= 0) close(err_fd_);
  link_.reset();
}

}  // namespace ipcm
