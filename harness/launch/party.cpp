#include "harness/launch/party.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "harness/core/check.h"
#include "harness/core/clock.h"
#include "harness/core/futex.h"
#include "harness/launch/launcher.h"
#include "harness/core/names.h"

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

constexpr const char* kPartyRole = "party";

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

// What the parties left in the group header, checked once all of them exited with success (so
// no party writes it after this check) and before any of it is used: a party process can write anything there, and a finish tick
// before the start would make the row's time wrap around to centuries. "" or the first bad word.
std::string finish_words_error(const GroupHeader& h, int parties) {
  const std::uint64_t start = h.start_tick, now = TickClock::now();
  const std::uint32_t finished = h.finished.load(std::memory_order_acquire);
  if (finished != std::uint32_t(parties))
    return "group header word 'finished' = " + std::to_string(finished) + ", expected " + std::to_string(parties) +
           " (a party wrote garbage into the group's shared memory)";
  // A party's CPU time between the gate and its finish cannot exceed the wall time of the same
  // interval; the slack covers the two clocks' granularity.
  const double wall_ns = TickClock::get().to_ns(now - start) + 1e6;
  for (int i = 0; i < parties; ++i) {
    const std::uint64_t tick = h.finish_tick[i], cpu = h.cpu_ns[i];
    if (tick < start || tick > now)
      return "group header finish_tick[" + std::to_string(i) + "] = " + std::to_string(tick) +
             ", outside the run's ticks [" + std::to_string(start) + ", " + std::to_string(now) +
             "] (a party wrote garbage into the group's shared memory)";
    if (double(cpu) > wall_ns)
      return "group header cpu_ns[" + std::to_string(i) + "] = " + std::to_string(cpu) + ", more than the " +
             std::to_string(std::uint64_t(wall_ns)) + " ns the run lasted (a party wrote garbage into the group's shared memory)";
  }
  return "";
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

namespace {

// A party in a copy of this binary: it finds the group's region by name. The launcher has
// armed its death signal, checked its parent and adopted its clock.
int party_main(int argc, char** argv) {
  std::string job_name, shm;
  int index = -1, parties = 0;
  std::optional<PeerKind> kind;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    if (eq == std::string::npos) spawn_fail("malformed argument " + arg);
    const std::string k = arg.substr(0, eq), v = arg.substr(eq + 1);
    if (k == "job") job_name = v;
    else if (k == "shm") shm = v;
    else if (k == "index") index = std::atoi(v.c_str());
    else if (k == "parties") parties = std::atoi(v.c_str());
    else if (k == "kind") kind = parse_peer(v);
    else spawn_fail("bad argument " + arg);
  }
  const PartyJob* job = find_party_job(job_name);
  if (!job || shm.empty() || parties <= 0 || parties > kMaxParties || index < 0 || index >= parties || !kind)
    spawn_fail("missing or bad job, shm, index, parties or kind");
  unpin_this_thread();
  Made<ShmSegment> r = ShmSegment::attach(shm);
  if (!r) spawn_fail(r.error);
  auto* h = reinterpret_cast<GroupHeader*>(r.value->data());
  return run_job(*job, h, r.value->data(), index, parties, *kind);
}

IPCM_REGISTER_ROLE(kPartyRole, party_main);

}  // namespace

// ---- PartyGroup ----

Made<PartyGroup> PartyGroup::start(PeerKind kind, std::string_view job_name, ShmSegment& region, int parties) {
  const PartyJob* job = find_party_job(job_name);
  IPCM_CHECK(job != nullptr);
  IPCM_CHECK(parties >= 1 && parties <= kMaxParties);
  // The peer-kind table decides whether this kind may be a group party, here for every group
  // family, so a new kind's refusal needs no code in sync, state or fanin.
  if (std::string why = peer_refusal(kind, PeerUse::kGroupParty); !why.empty()) return Made<PartyGroup>::Fail(why);
  std::unique_ptr<PartyGroup> g(new PartyGroup());
  g->kind_ = kind;
  g->region_ = &region;
  g->header_ = reinterpret_cast<GroupHeader*>(region.data());
  g->parties_ = parties;
  const bool threads = !crosses_processes(kind);
  if (threads) {
    g->thread_codes_.reset(new std::atomic<int>[std::size_t(parties)]);
    for (int i = 0; i < parties; ++i) g->thread_codes_[std::size_t(i)].store(-1);
  } else {
    g->reaped_.assign(std::size_t(parties), false);
  }
  for (int i = 0; i < parties; ++i) {
    LaunchSpec spec;
    // A copy of this binary finds the region by name; a thread or a forked child has it.
    spec.role = kPartyRole;
    spec.args = {"job=" + std::string(job_name), "shm=" + region.name(), "index=" + std::to_string(i),
                 "parties=" + std::to_string(parties), "kind=" + std::string(peer_name(kind))};
    spec.body = [job, h = g->header_, base = region.data(), i, parties, kind, codes = g->thread_codes_.get()] {
      unpin_this_thread();
      const int code = run_job(*job, h, base, i, parties, kind);
      if (codes != nullptr) codes[i].store(code, std::memory_order_release);
      return code;
    };
    std::string err;
    Launched l = launch(kind, std::move(spec), err);
    if (!l) {
      g->kill_all();
      return Made<PartyGroup>::Fail(err);
    }
    if (l.pid > 0) g->pids_.push_back(l.pid);
    if (l.thread.joinable()) g->threads_.push_back(std::move(l.thread));
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
  if (!crosses_processes(kind_)) {
    for (int i = 0; i < parties_; ++i) {
      const int code = thread_codes_[std::size_t(i)].load(std::memory_order_acquire);
      if (code > 0) return describe_failure(i, 0, true);
    }
    return "";
  }
  for (int i = 0; i < parties_; ++i) {
    if (reaped_[std::size_t(i)]) continue;
    const std::optional<int> status = try_reap(pids_[std::size_t(i)]);
    if (!status) continue;
    reaped_[std::size_t(i)] = true;
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != kPeerOk) return describe_failure(i, *status, false);
  }
  return "";
}

std::string PartyGroup::wait_ready() {
  const auto until = std::chrono::steady_clock::now() + kPeerTimeout;
  for (;;) {
    // Read once: the count is compared and reported as the same value.
    const std::uint32_t ready = header_->ready.load();
    if (ready == std::uint32_t(parties_)) break;
    std::string bad = check_parties();
    // Each party counts itself once: more means a party wrote into the group's header, and
    // opening the gate on it would start parties that are not there.
    if (bad.empty() && ready > std::uint32_t(parties_))
      bad = "group header word 'ready' = " + std::to_string(ready) + ", more than the group's " +
            std::to_string(parties_) + " parties (a party wrote garbage into the group's shared memory)";
    if (bad.empty() && crosses_processes(kind_)) {
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
    if (!crosses_processes(kind_)) {
      for (int i = 0; i < parties_; ++i)
        if (thread_codes_[std::size_t(i)].load(std::memory_order_acquire) < 0) all_done = false;
    } else {
      for (bool r : reaped_)
        if (!r) all_done = false;
    }
    if (bad.empty() && all_done) {
      for (auto& t : threads_) t.join();
      threads_.clear();
      return finish_words_error(*header_, parties_);
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
  std::vector<pid_t> alive;
  for (std::size_t i = 0; i < pids_.size(); ++i) {
    if (reaped_[i]) continue;
    alive.push_back(pids_[i]);
    reaped_[i] = true;
  }
  kill_children(alive);
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
