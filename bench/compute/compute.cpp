#include "bench/compute/compute.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "harness/core/check.h"
#include "harness/core/fault_hooks.h"
#include "harness/core/futex.h"
#include "harness/launch/launcher.h"
#include "harness/core/limits.h"
#include "harness/core/names.h"

namespace ipcm {

struct alignas(kCacheLine) ComputeHeader {
  std::uint32_t kernel;
  std::uint32_t workers;
  std::uint64_t elements;  // cpu/shared: elements; membw: 64-bit words
  std::uint32_t rounds;    // cpu/shared: mixing rounds per element; membw: passes
  std::uint64_t partial_off, input_off, output_off;
  // Each written by different sides, each on its own line. `active` (workers 0 .. active-1
  // split the work this round; the others only report done) is written by the parent before
  // it bumps `generation`, which publishes it.
  alignas(kCacheLine) std::atomic<std::uint32_t> generation;
  std::uint32_t active;
  alignas(kCacheLine) std::atomic<std::uint32_t> done;
  alignas(kCacheLine) std::atomic<std::uint32_t> attached;
  alignas(kCacheLine) std::atomic<std::uint32_t> stop;
};

struct alignas(kCacheLine) FarmHeader {
  std::uint32_t tasks;
  std::uint64_t elements_per_task;
  std::uint32_t rounds;
  alignas(kCacheLine) std::atomic<std::uint32_t> next;  // the pool's next task
};

namespace {

constexpr std::size_t kSlot = kCacheLine;  // one partial result per line: no false sharing

// splitmix64's finaliser: a few cycles of dependent integer work per call.
inline std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline std::uint64_t mixed(std::uint64_t i, std::uint32_t rounds) noexcept {
  std::uint64_t x = i;
  for (std::uint32_t r = 0; r < rounds; ++r) x = mix(x);
  return x;
}

std::uint64_t cpu_slice(std::uint64_t lo, std::uint64_t hi, std::uint32_t rounds) noexcept {
  std::uint64_t sum = 0;
  for (std::uint64_t i = lo; i < hi; ++i) sum += mixed(i, rounds);
  return sum;
}

std::uint64_t membw_slice(const std::uint64_t* in, std::uint64_t lo, std::uint64_t hi, std::uint32_t passes) noexcept {
  std::uint64_t total = 0;
  for (std::uint32_t p = 0; p < passes; ++p) {
    // Four accumulators so the adds are not one dependent chain: the loads set the pace.
    std::uint64_t a = 0, b = 0, c = 0, d = 0;
    std::uint64_t i = lo;
    for (; i + 4 <= hi; i += 4) {
      a += in[i];
      b += in[i + 1];
      c += in[i + 2];
      d += in[i + 3];
    }
    for (; i < hi; ++i) a += in[i];
    total += a + b + c + d;
    // Each pass must read the memory again rather than reuse the first pass's sum.
    asm volatile("" ::: "memory");
  }
  return total;
}

void shared_slice(std::uint64_t* out, std::uint64_t lo, std::uint64_t hi, std::uint32_t rounds) noexcept {
  for (std::uint64_t i = lo; i < hi; ++i) out[i] = mixed(i, rounds);
}

// The header's layout as a worker takes it, once, when it starts: copied out of the shared
// header and checked against the segment's size, so that no offset or length another worker
// process may write later decides where this one reads or writes.
struct TeamShape {
  Kernel kernel;
  std::uint32_t workers, rounds;
  std::uint64_t elements, partial_off, input_off, output_off;

  // "" when every region the kernel touches lies inside `bytes`, and `w` is one of the team.
  std::string invalid(std::size_t bytes, unsigned w) const {
    auto inside = [&](std::uint64_t off, std::uint64_t n, std::uint64_t unit) {
      return off <= bytes && n <= (bytes - off) / unit;
    };
    if (workers == 0 || w >= workers) return "worker index " + std::to_string(w) + " of " + std::to_string(workers);
    if (!inside(partial_off, workers, kSlot)) return "partial_off " + std::to_string(partial_off);
    switch (kernel) {
      case Kernel::kCpu: return "";
      case Kernel::kMembw: return inside(input_off, elements, 8) ? "" : "input_off/elements " + std::to_string(input_off);
      case Kernel::kShared: return inside(output_off, elements, 8) ? "" : "output_off/elements " + std::to_string(output_off);
    }
    return "kernel " + std::to_string(unsigned(kernel));
  }
};

TeamShape shape_of(const ComputeHeader* h) noexcept {
  return {Kernel(h->kernel), h->workers, h->rounds, h->elements, h->partial_off, h->input_off, h->output_off};
}

void run_slice(ComputeHeader* h, const TeamShape& t, unsigned w) noexcept {
  std::byte* base = reinterpret_cast<std::byte*>(h);
  auto* partial = reinterpret_cast<std::uint64_t*>(base + t.partial_off + w * kSlot);
  // Read once and validated: the header is shared with other processes.
  const std::uint32_t active = h->active;
  const std::uint64_t share = active >= 1 && active <= t.workers ? active : t.workers;
  if (w >= share) {
    *partial = 0;
    return;
  }
  const std::uint64_t lo = t.elements * w / share, hi = t.elements * (w + 1) / share;
  switch (t.kernel) {
    case Kernel::kCpu:
      *partial = cpu_slice(lo, hi, t.rounds);
      break;
    case Kernel::kMembw:
      *partial = membw_slice(reinterpret_cast<const std::uint64_t*>(base + t.input_off), lo, hi, t.rounds);
      break;
    case Kernel::kShared:
      shared_slice(reinterpret_cast<std::uint64_t*>(base + t.output_off), lo, hi, t.rounds);
      *partial = 0;
      break;
  }
}

int worker_loop(ComputeHeader* h, std::size_t segment_bytes, unsigned w) noexcept {
  const TeamShape shape = shape_of(h);
  if (const std::string bad = shape.invalid(segment_bytes, w); !bad.empty()) {
    std::fprintf(stderr, "ipcmeter compute worker: the team header does not fit its segment: %s\n", bad.c_str());
    return kPeerMessageBad;
  }
  std::uint32_t seen = h->generation.load(std::memory_order_acquire);
  if (h->attached.fetch_add(1, std::memory_order_acq_rel) + 1 == shape.workers) futex_wake_all(&h->attached);
  for (;;) {
    std::uint32_t g;
    while ((g = h->generation.load(std::memory_order_acquire)) == seen) futex_wait_for(&h->generation, seen, kWorkerPoll);
    seen = g;
    if (h->stop.load(std::memory_order_acquire)) return kPeerOk;
    run_slice(h, shape, w);
    if (h->done.fetch_add(1, std::memory_order_acq_rel) + 1 == shape.workers) futex_wake_all(&h->done);
  }
}

// A child that ended while its team still needed it; waitid(WNOWAIT) looks without reaping.
bool a_worker_ended(const std::vector<pid_t>& pids, std::string& why) {
  for (pid_t pid : pids) {
    if (const std::optional<int> status = ended_status(pid)) {
      why = "worker " + std::to_string(pid) + " ended early (" +
            (WIFEXITED(*status) ? "status " + std::to_string(WEXITSTATUS(*status)) : std::string(strsignal(WTERMSIG(*status)))) +
            ")";
      return true;
    }
  }
  return false;
}

std::string workers_refusal(PeerKind peer, PeerUse use, unsigned workers) {
  if (workers == 0 || workers > kMaxWorkers)
    return "workers must be between 1 and " + std::to_string(kMaxWorkers) + ", not " + std::to_string(workers);
  return peer_refusal(peer, use);
}

// Starts one worker of `role` (a spawned copy gets `args`; a thread or a forked child runs
// `body` over the memory it shares). Its pid or thread goes to the caller's lists.
bool start_worker(PeerKind peer, const char* role, std::vector<std::string> args, std::function<int()> body,
                  std::vector<pid_t>& pids, std::vector<std::thread>* threads, std::string& why) {
  LaunchSpec spec;
  spec.role = role;
  spec.args = std::move(args);
  spec.body = std::move(body);
  Launched l = launch(peer, std::move(spec), why);
  if (!l) return false;
  if (l.pid > 0) pids.push_back(l.pid);
  if (l.thread.joinable()) {
    IPCM_CHECK(threads != nullptr);
    threads->push_back(std::move(l.thread));
  }
  return true;
}

constexpr const char* kComputeRole = "compute";
constexpr const char* kFarmRole = "farm";

}  // namespace

ComputeHeaderLayout compute_header_layout() {
  return {offsetof(ComputeHeader, generation), offsetof(ComputeHeader, done), offsetof(ComputeHeader, attached)};
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  const auto mid = v.begin() + std::ptrdiff_t(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  if (v.size() % 2) return *mid;
  return (*mid + *std::max_element(v.begin(), mid)) / 2;
}

std::uint64_t membw_working_set(std::uint64_t at_least, std::optional<std::uint64_t> llc,
                                std::optional<std::uint64_t> mem_available) {
  std::uint64_t bytes = std::max(at_least, kLlcMultiple * llc.value_or(kAssumedLlcBytes));
  if (mem_available) bytes = std::min(bytes, *mem_available / kMembwMemDivisor);
  return bytes / 4096 * 4096;
}

Speedup speedup_of(const std::vector<double>& base_s, const std::vector<double>& here_s) {
  if (base_s.empty() || base_s.size() != here_s.size()) return {};
  std::vector<double> ratios;
  ratios.reserve(base_s.size());
  for (std::size_t i = 0; i < base_s.size(); ++i) {
    if (!(base_s[i] > 0) || !(here_s[i] > 0)) return {};
    ratios.push_back(base_s[i] / here_s[i]);
  }
  const auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
  return {median_of(ratios), *lo, *hi};
}

std::string impossible_speedup(double speedup, unsigned workers, unsigned cpus) {
  const unsigned bound = std::max(1u, std::min(workers, cpus));
  if (speedup <= bound * kSuperlinearTolerance) return "";
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "measurement error, not a result: speedup %.2fx with %u workers on %u CPUs is above the "
                "possible %u x %.1f",
                speedup, workers, cpus, bound, kSuperlinearTolerance);
  return buf;
}

Made<ComputeTeam> ComputeTeam::start(Kernel k, PeerKind peer, unsigned workers, const KernelSize& size) {
  if (std::string no = workers_refusal(peer, PeerUse::kTeamWorker, workers); !no.empty()) return Made<ComputeTeam>::Fail(no);
  std::uint64_t elements = 0, input = 0, output = 0;
  std::uint32_t rounds = 0;
  switch (k) {
    case Kernel::kCpu: elements = size.cpu_elements, rounds = size.cpu_rounds; break;
    case Kernel::kMembw: elements = size.membw_bytes / 8, rounds = size.membw_passes, input = elements * 8; break;
    case Kernel::kShared: elements = size.shared_elements, rounds = size.shared_rounds, output = elements * 8; break;
  }
  const std::uint64_t partial_off = sizeof(ComputeHeader);
  const std::uint64_t input_off = partial_off + std::uint64_t(workers) * kSlot;
  const std::uint64_t output_off = input_off + input;
  Made<ShmSegment> seg = ShmSegment::create(output_off + output, "compute");
  if (!seg) return Made<ComputeTeam>::Fail(seg.error);
  std::unique_ptr<ComputeTeam> t(new ComputeTeam());
  t->peer_ = peer;
  t->workers_ = workers;
  t->seg_ = std::move(seg.value);
  t->hdr_ = new (t->seg_->data()) ComputeHeader{};
  ComputeHeader* h = t->hdr_;
  h->kernel = std::uint32_t(k);
  h->workers = workers;
  h->elements = elements;
  h->rounds = rounds;
  h->partial_off = partial_off;
  h->input_off = input_off;
  h->output_off = output_off;
  t->kernel_ = k;
  t->elements_ = elements;
  t->rounds_ = rounds;
  t->partial_off_ = partial_off;
  t->input_off_ = input_off;
  t->output_off_ = output_off;
  // Every page is written here, before any worker exists, so no timed round pays for the
  // segment's pages being allocated; the warm-up round below then maps them into each worker.
  if (k == Kernel::kMembw) {
    auto* in = reinterpret_cast<std::uint64_t*>(t->seg_->data() + input_off);
    for (std::uint64_t i = 0; i < elements; ++i) in[i] = mix(i);
  }
  if (output > 0) std::memset(t->seg_->data() + output_off, 0, output);
  std::string err;
  for (unsigned w = 0; w < workers; ++w) {
    if (!start_worker(peer, kComputeRole, {t->seg_->name(), std::to_string(w)}, [h, bytes = t->seg_->size(), w] { return worker_loop(h, bytes, w); },
                      t->pids_, &t->threads_, err))
      return Made<ComputeTeam>::Fail(err);
  }
  if (Status st = t->wait_for(h->attached, workers, err); !st) return Made<ComputeTeam>::Fail("workers did not attach: " + err);
  // One untimed round: each process maps the segment's pages into its own page tables on
  // first touch, which a thread (sharing the parent's) never pays; the rounds measure the work.
  if (Status st = t->round(err); !st) return Made<ComputeTeam>::Fail("warm-up round: " + err);
  // And one serial round, in which worker 0 maps the other slices' pages too, so the first
  // workers:1 reference round (serial_round) does not pay for them either.
  if (workers > 1)
    if (Status st = t->serial_round(err); !st) return Made<ComputeTeam>::Fail("warm-up serial round: " + err);
  return {std::move(t), {}};
}

Status ComputeTeam::wait_for(std::atomic<std::uint32_t>& word, std::uint32_t target, std::string& why) noexcept {
  const auto until = std::chrono::steady_clock::now() + kPeerTimeout;
  std::uint32_t v;
  while ((v = word.load(std::memory_order_acquire)) != target) {
    // The words the parent waits on count workers: past the team's size, a worker wrote
    // garbage, and the count will not come back down to the target before the timeout.
    if (v > target) {
      why = std::string("compute team shared word '") + (&word == &hdr_->done ? "done" : "attached") + "' = " +
            std::to_string(v) + ", more than the team's " + std::to_string(target) +
            " workers: a worker wrote garbage into the team's shared memory";
      return Status::Corrupt("compute: shared counter", v);
    }
    if (futex_wait_for(&word, v, kParentPoll) == 0) continue;
    if (a_worker_ended(pids_, why)) return Status::Closed("worker ended");
    if (std::chrono::steady_clock::now() > until) {
      why = "workers did not finish within " + std::to_string(kPeerTimeout.count()) + " s";
      return Status::Cancelled("compute round");
    }
  }
  return Status::Ok();
}

Status ComputeTeam::round(std::string& why) noexcept { return run_round(workers_, why); }

Status ComputeTeam::serial_round(std::string& why) noexcept { return run_round(1, why); }

Status ComputeTeam::run_round(unsigned active, std::string& why) noexcept {
  hdr_->active = active;
  hdr_->done.store(0, std::memory_order_relaxed);
  hdr_->generation.fetch_add(1, std::memory_order_acq_rel);
  futex_wake_all(&hdr_->generation);
  return wait_for(hdr_->done, workers_, why);
}

Status ComputeTeam::verify(std::string& why, bool serial) {
  std::byte* base = seg_->data();
  auto* out = reinterpret_cast<std::uint64_t*>(base + output_off_);
  auto partial = [&](unsigned w) { return reinterpret_cast<std::uint64_t*>(base + partial_off_ + w * kSlot); };
  for (unsigned w = 0; w < workers_; ++w) *partial(w) = ~0ull;
  if (kernel_ == Kernel::kShared) std::memset(out, 0, elements_ * 8);
  if (Status st = run_round(serial ? 1 : workers_, why); !st) return st;
  std::uint64_t got = 0;
  for (unsigned w = 0; w < workers_; ++w) got += *partial(w);
  switch (kernel_) {
    case Kernel::kCpu:
      if (got != cpu_slice(0, elements_, rounds_)) why = "cpu kernel: the workers' sum differs from a serial run";
      break;
    case Kernel::kMembw:
      if (got != membw_slice(reinterpret_cast<const std::uint64_t*>(base + input_off_), 0, elements_, rounds_))
        why = "membw kernel: the workers' sum differs from a serial run";
      break;
    case Kernel::kShared:
      for (std::uint64_t i = 0; i < elements_ && why.empty(); ++i)
        if (out[i] != mixed(i, rounds_)) why = "shared kernel: element " + std::to_string(i) + " differs from a serial run";
      if (got != 0 && why.empty()) why = "shared kernel: a worker did not finish its slice";
      break;
  }
  return why.empty() ? Status::Ok() : Status::Corrupt("kernel result");
}

Status ComputeTeam::stop(std::string& why) {
  if (stopped_) return Status::Ok();
  stopped_ = true;
  hdr_->stop.store(1, std::memory_order_release);
  hdr_->generation.fetch_add(1, std::memory_order_acq_rel);
  futex_wake_all(&hdr_->generation);
  for (auto& th : threads_) th.join();
  threads_.clear();
  return reap_children(pids_, std::chrono::duration_cast<std::chrono::milliseconds>(kPeerTimeout), why);
}

ComputeTeam::~ComputeTeam() {
  std::string why;
  if (!stopped_) {
    // A worker that failed may never see the stop word; do not wait kPeerTimeout for it.
    if (a_worker_ended(pids_, why)) kill_children(pids_);
    stop(why);
  }
}

namespace {

// A spawned team worker: arguments segment name, worker index.
int compute_worker_main(int argc, char** argv) {
  std::uint64_t w = 0;
  if (argc != 2 || !parse_u64(argv[1], w)) return kPeerUsage;
  Made<ShmSegment> seg = ShmSegment::attach(argv[0]);
  if (!seg) {
    std::fprintf(stderr, "ipcmeter compute worker: %s\n", seg.error.c_str());
    return kPeerAttachFailed;
  }
  auto* h = reinterpret_cast<ComputeHeader*>(seg.value->data());
  if (seg.value->size() < sizeof(ComputeHeader) || w >= kMaxWorkers) return kPeerUsage;
  return worker_loop(h, seg.value->size(), unsigned(w));
}

IPCM_REGISTER_ROLE(kComputeRole, compute_worker_main);

}  // namespace

// --- the task farm ---------------------------------------------------------------------

namespace {

std::uint64_t* farm_results(FarmHeader* h) noexcept {
  return reinterpret_cast<std::uint64_t*>(reinterpret_cast<std::byte*>(h) + sizeof(FarmHeader));
}

// The farm's words, read once when a worker starts: the task count decides where results are
// written, so it must fit the segment whatever another worker process wrote into it.
struct FarmShape {
  std::uint32_t tasks, rounds;
  std::uint64_t elements_per_task;
};

void farm_task(FarmHeader* h, const FarmShape& f, std::uint32_t t) noexcept {
  const std::uint64_t lo = std::uint64_t(t) * f.elements_per_task;
  farm_results(h)[t] = cpu_slice(lo, lo + f.elements_per_task, f.rounds);
}

// task >= 0: run that one task; task < 0: take tasks until none are left.
int farm_loop(FarmHeader* h, std::size_t segment_bytes, long task) noexcept {
  const FarmShape f{h->tasks, h->rounds, h->elements_per_task};
  if (segment_bytes < sizeof(FarmHeader) || f.tasks > (segment_bytes - sizeof(FarmHeader)) / 8 || task >= long(f.tasks)) {
    std::fprintf(stderr, "ipcmeter farm worker: farm header tasks = %u does not fit its segment\n", f.tasks);
    return kPeerMessageBad;
  }
  if (task >= 0) {
    farm_task(h, f, std::uint32_t(task));
    return kPeerOk;
  }
  for (std::uint32_t t; (t = h->next.fetch_add(1, std::memory_order_acq_rel)) < f.tasks;) farm_task(h, f, t);
  return kPeerOk;
}

}  // namespace

Status run_farm(PeerKind peer, bool pool, unsigned workers, const FarmSize& size, double& seconds, std::string& why) {
  // The kind's own refusal first; whether fork is safe now is asked once the sizes are known.
  if (const char* no = peer_def(peer).refused[std::size_t(PeerUse::kFarmWorker)]) {
    why = no;
    return Status::Closed("farm peer");
  }
  if (size.tasks == 0 || size.tasks > kMaxWorkers) {
    why = "tasks must be between 1 and " + std::to_string(kMaxWorkers);
    return Status::Closed("farm tasks");
  }
  if (!pool) workers = size.tasks;
  if (std::string no = workers_refusal(peer, PeerUse::kFarmWorker, workers); !no.empty()) {
    why = no;
    return Status::Closed("farm workers");
  }
  Made<ShmSegment> seg = ShmSegment::create(sizeof(FarmHeader) + size.tasks * 8ull, "farm");
  if (!seg) {
    why = seg.error;
    return Status::Closed("farm segment");
  }
  auto* h = new (seg.value->data()) FarmHeader{};
  h->tasks = size.tasks;
  h->elements_per_task = size.elements_per_task;
  h->rounds = size.rounds;
  for (std::uint32_t t = 0; t < size.tasks; ++t) farm_results(h)[t] = ~0ull;

  std::vector<pid_t> pids;
  const auto t0 = std::chrono::steady_clock::now();
  for (unsigned w = 0; w < workers; ++w) {
    const long task = pool ? -1 : long(w);
    if (!start_worker(peer, kFarmRole, {seg.value->name(), std::to_string(task)}, [h, bytes = seg.value->size(), task] { return farm_loop(h, bytes, task); },
                      pids, nullptr, why)) {
      kill_children(pids);
      return Status::Closed("farm start");
    }
  }
  if (Status st = reap_children(pids, std::chrono::duration_cast<std::chrono::milliseconds>(kPeerTimeout), why); !st)
    return st;
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (std::uint32_t t = 0; t < size.tasks; ++t) {
    const std::uint64_t lo = std::uint64_t(t) * size.elements_per_task;
    if (farm_results(h)[t] != cpu_slice(lo, lo + size.elements_per_task, size.rounds)) {
      why = "farm task " + std::to_string(t) + "'s result differs from a serial run";
      return Status::Corrupt("farm result");
    }
  }
  return Status::Ok();
}

namespace {

// A spawned farm worker: arguments segment name, task (-1: take tasks until none are left).
int farm_worker_main(int argc, char** argv) {
  if (argc != 2) return kPeerUsage;
  const long task = std::strtol(argv[1], nullptr, 10);
  Made<ShmSegment> seg = ShmSegment::attach(argv[0]);
  if (!seg) {
    std::fprintf(stderr, "ipcmeter farm worker: %s\n", seg.error.c_str());
    return kPeerAttachFailed;
  }
  auto* h = reinterpret_cast<FarmHeader*>(seg.value->data());
  return farm_loop(h, seg.value->size(), task);
}

IPCM_REGISTER_ROLE(kFarmRole, farm_worker_main);

}  // namespace

}  // namespace ipcm
