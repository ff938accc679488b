#include "harness/party.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "harness/check.h"
#include "harness/clock.h"
#include "harness/futex.h"
#include "harness/names.h"

namespace ipcm {

// The jobs, defined beside the data they work on. Named here (not self-registered) so that the
// static library's linker keeps them in every binary that may be spawned as a party.
int sync_party(PartyContext& ctx);
int state_party(PartyContext& ctx);
int manager_party(PartyContext& ctx);
int fanin_party(PartyContext& ctx);

namespace {

constexpr PartyJob kJobs[] = {
    {"sync", sync_party},
    {"state", state_party},
    {"manager", manager_party},
    {"fanin", fanin_party},
};

void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

[[noreturn]] void spawn_fail(const std::string& why) {
  std::fprintf(stderr, "ipcmeter party: %s\n", why.c_str());
  std::fflush(stderr);
  _exit(kPeerUsage);
}

int run_job(const PartyJob& job, GroupHeader* h, std::byte* base, int index, int parties, PeerKind kind) {
  PartyContext ctx;
  ctx.header = h;
  ctx.payload = base + kGroupPayloadOffset;
  ctx.index = index;
  ctx.parties = parties;
  ctx.kind = kind;
  return job.fn(ctx);
}

}  // namespace

// ---- ShmSegment ----

// ---- PartyContext ----

bool PartyContext::arrive_and_wait_start() noexcept {
  header->ready.fetch_add(1);
  for (;;) {
    const std::uint32_t g = header->gate.load(std::memory_order_acquire);
    if (g == kGateOpen) break;
    if (g == kGateAbort) return false;
    futex_wait(&header->gate, g);
  }
  cpu_at_start = thread_cpu_ns();
  return true;
}

void PartyContext::mark_finished() noexcept {
  header->finish_tick[index] = TickClock::now();
  header->cpu_ns[index] = thread_cpu_ns() - cpu_at_start;
  header->finished.fetch_add(1);
}

int PartyContext::fail(std::string_view why) noexcept {
  const std::size_t n = std::min(why.size(), kPartyWhyBytes - 1);
  std::memcpy(header->why[index], why.data(), n);
  header->why[index][n] = '\0';
  // Whoever waits for this party elsewhere in the group should give up too.
  header->cancel.store(1);
  return kPeerChannelFailed;
}

const PartyJob* find_party_job(std::string_view name) {
  for (const PartyJob& j : kJobs)
    if (j.name == name) return &j;
  return nullptr;
}

void unpin_this_thread() noexcept {
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &all);
  // The kernel intersects the mask with the cpuset: what is left is every CPU we may use.
  sched_setaffinity(0, sizeof all, &all);
}

// ---- spawned party ----

void party_main(int argc, char** argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  install_peer_signals();
  std::string job_name, shm;
  int index = -1, parties = 0;
  long parent = -1;
  double ns_per_tick = 0;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    if (eq == std::string::npos) spawn_fail("malformed argument " + arg);
    const std::string k = arg.substr(0, eq), v = arg.substr(eq + 1);
    if (k == "job") job_name = v;
    else if (k == "shm") shm = v;
    else if (k == "index") index = std::atoi(v.c_str());
    else if (k == "parties") parties = std::atoi(v.c_str());
    else if (k == "parent") parent = std::atol(v.c_str());
    else if (k == "ns_per_tick") ns_per_tick = std::atof(v.c_str());
    else spawn_fail("bad argument " + arg);
  }
  const PartyJob* job = find_party_job(job_name);
  if (!job || shm.empty() || parties <= 0 || parties > kMaxParties || index < 0 || index >= parties || parent <= 0)
    spawn_fail("missing or bad job, shm, index, parties or parent");
  if (getppid() != pid_t(parent)) _exit(kPeerOrphaned);
  TickClock::adopt(ns_per_tick);
  unpin_this_thread();
  Made<ShmSegment> r = ShmSegment::attach(shm);
  if (!r) spawn_fail(r.error);
  auto* h = reinterpret_cast<GroupHeader*>(r.value->data());
  _exit(run_job(*job, h, r.value->data(), index, parties, PeerKind::kSpawn));
}

// ---- PartyGroup ----

Made<PartyGroup> PartyGroup::start(PeerKind kind, std::string_view job_name, ShmSegment& region, int parties) {
  const PartyJob* job = find_party_job(job_name);
  IPCM_CHECK(job != nullptr);
  IPCM_CHECK(parties >= 1 && parties <= kMaxParties);
  std::unique_ptr<PartyGroup> g(new PartyGroup());
  g->kind_ = kind;
  g->region_ = &region;
  g->header_ = reinterpret_cast<GroupHeader*>(region.data());
  g->parties_ = parties;
  if (kind == PeerKind::kThread) {
    g->thread_codes_.reset(new std::atomic<int>[std::size_t(parties)]);
    for (int i = 0; i < parties; ++i) g->thread_codes_[std::size_t(i)].store(-1);
    for (int i = 0; i < parties; ++i) {
      g->threads_.emplace_back([job, h = g->header_, base = region.data(), i, parties, codes = g->thread_codes_.get()] {
        unpin_this_thread();
        codes[i].store(run_job(*job, h, base, i, parties, PeerKind::kThread), std::memory_order_release);
      });
    }
    return {std::move(g), {}};
  }
  g->reaped_.assign(std::size_t(parties), false);
  const pid_t parent = getpid();
  char tick[64];
  std::snprintf(tick, sizeof tick, "%.17g", TickClock::get().ns_per_tick());
  for (int i = 0; i < parties; ++i) {
    pid_t pid = -1;
    if (kind == PeerKind::kFork) {
      pid = fork();
      if (pid < 0) {
        g->kill_all();
        return Made<PartyGroup>::Fail(sys_error("fork"));
      }
      if (pid == 0) {
        // The child: only what a freshly forked process may safely do, then the job.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(kPeerOrphaned);
        for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
        unpin_this_thread();
        _exit(run_job(*job, g->header_, region.data(), i, parties, PeerKind::kFork));
      }
    } else {
      std::vector<std::string> argv = {self_exe(),
                                       kPartyFlag,
                                       "job=" + std::string(job_name),
                                       "shm=" + region.name(),
                                       "index=" + std::to_string(i),
                                       "parties=" + std::to_string(parties),
                                       "parent=" + std::to_string(parent),
                                       std::string("ns_per_tick=") + tick};
      std::string err;
      pid = spawn_self(std::move(argv), {}, -1, err);
      if (pid < 0) {
        g->kill_all();
        return Made<PartyGroup>::Fail(err);
      }
    }
    record_child(pid);
    g->pids_.push_back(pid);
  }
  return {std::move(g), {}};
}

std::string PartyGroup::describe_failure(int party, int status, bool thread) {
  std::string out = "party " + std::to_string(party);
  if (!thread) out += " (pid " + std::to_string(pids_[std::size_t(party)]) + ")";
  if (thread) {
    out += " failed";
  } else if (WIFEXITED(status)) {
    out += " exited with status " + std::to_string(WEXITSTATUS(status)) + " (" + peer_exit_meaning(WEXITSTATUS(status)) + ")";
  } else if (WIFSIGNALED(status)) {
    out += std::string(" was killed by signal ") + strsignal(WTERMSIG(status));
  } else {
    out += " ended abnormally";
  }
  const char* why = header_->why[party];
  if (why[0] != '\0') out += std::string(": ") + std::string(why, strnlen(why, kPartyWhyBytes));
  return out;
}

// Looks at every party once; returns the first failure, "" if none.
std::string PartyGroup::check_parties() {
  if (kind_ == PeerKind::kThread) {
    for (int i = 0; i < parties_; ++i) {
      const int code = thread_codes_[std::size_t(i)].load(std::memory_order_acquire);
      if (code > 0) return describe_failure(i, 0, true);
    }
    return "";
  }
  for (int i = 0; i < parties_; ++i) {
    if (reaped_[std::size_t(i)]) continue;
    int status = 0;
    const pid_t r = waitpid(pids_[std::size_t(i)], &status, WNOHANG);
    if (r != pids_[std::size_t(i)]) continue;
    reaped_[std::size_t(i)] = true;
    forget_child(r);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != kPeerOk) return describe_failure(i, status, false);
  }
  return "";
}

std::string PartyGroup::wait_ready() {
  const auto until = std::chrono::steady_clock::now() + kPeerTimeout;
  while (header_->ready.load() < std::uint32_t(parties_)) {
    std::string bad = check_parties();
    if (bad.empty() && kind_ != PeerKind::kThread) {
      for (bool r : reaped_)
        if (r) bad = "a party ended before the start";
    }
    if (bad.empty() && std::chrono::steady_clock::now() > until)
      bad = "the parties did not all get ready within " + std::to_string(kPeerTimeout.count()) + " s";
    if (!bad.empty()) {
      kill_all();
      return bad;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return "";
}

void PartyGroup::open_gate() noexcept {
  header_->start_tick = TickClock::now();
  header_->gate.store(kGateOpen, std::memory_order_release);
  futex_wake_all(&header_->gate);
}

std::string PartyGroup::wait_for(const std::function<bool()>& cond) {
  const auto until = std::chrono::steady_clock::now() + kGroupRunTimeout;
  for (;;) {
    if (cond()) return "";
    std::string bad = check_parties();
    if (bad.empty() && std::chrono::steady_clock::now() > until)
      bad = "the group did not get there within " + std::to_string(kGroupRunTimeout.count()) + " s and was stopped";
    if (!bad.empty()) {
      kill_all();
      return bad;
    }
    std::this_thread::sleep_for(kGroupPoll);
  }
}

std::string PartyGroup::wait_done() {
  const auto until = std::chrono::steady_clock::now() + kGroupRunTimeout;
  for (;;) {
    std::string bad = check_parties();
    bool all_done = true;
    if (kind_ == PeerKind::kThread) {
      for (int i = 0; i < parties_; ++i)
        if (thread_codes_[std::size_t(i)].load(std::memory_order_acquire) < 0) all_done = false;
    } else {
      for (bool r : reaped_)
        if (!r) all_done = false;
    }
    if (bad.empty() && all_done) {
      for (auto& t : threads_) t.join();
      threads_.clear();
      return "";
    }
    if (bad.empty() && std::chrono::steady_clock::now() > until)
      bad = "the group did not finish within " + std::to_string(kGroupRunTimeout.count()) + " s and was stopped";
    if (!bad.empty()) {
      kill_all();
      return bad;
    }
    std::this_thread::sleep_for(kGroupPoll);
  }
}

std::uint64_t PartyGroup::last_finish_tick() const noexcept {
  std::uint64_t last = 0;
  for (int i = 0; i < parties_; ++i) last = std::max(last, header_->finish_tick[i]);
  return last;
}

std::uint64_t PartyGroup::cpu_ns() const noexcept {
  std::uint64_t sum = 0;
  for (int i = 0; i < parties_; ++i) sum += header_->cpu_ns[i];
  return sum;
}

// Stops every party: processes are killed and reaped; threads are told to cancel (the gate
// aborts, long waits poll the flag) and joined. A thread that still does not end is a bug of
// ours in a protocol, and aborting says so where a join would hang.
void PartyGroup::kill_all() noexcept {
  header_->cancel.store(1);
  header_->gate.store(kGateAbort);
  futex_wake_all(&header_->gate);
  if (on_cancel_) on_cancel_();
  for (std::size_t i = 0; i < pids_.size(); ++i) {
    if (reaped_.size() > i && reaped_[i]) continue;
    kill(pids_[i], SIGKILL);
    while (waitpid(pids_[i], nullptr, 0) < 0 && errno == EINTR) {
    }
    if (reaped_.size() > i) reaped_[i] = true;
    forget_child(pids_[i]);
  }
  if (!threads_.empty()) {
    const auto until = std::chrono::steady_clock::now() + kPeerTimeout;
    for (int i = 0; i < parties_; ++i) {
      while (thread_codes_[std::size_t(i)].load() < 0) {
        if (std::chrono::steady_clock::now() > until) {
          std::fprintf(stderr, "ipcmeter: party thread %d did not end after cancel\n", i);
          IPCM_CHECK(!"a party thread ignores cancellation");
        }
        std::this_thread::sleep_for(kGroupPoll);
      }
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
}

PartyGroup::~PartyGroup() {
  bool alive = !threads_.empty();
  for (std::size_t i = 0; i < reaped_.size(); ++i) alive = alive || !reaped_[i];
  if (alive) kill_all();
}

}  // namespace ipcm
