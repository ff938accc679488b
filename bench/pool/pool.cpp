#include "bench/pool/pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "harness/core/clock.h"
#include "harness/core/fault_hooks.h"
#include "bench/compute/compute.h"
#include "harness/core/limits.h"
#include "harness/core/names.h"
#include "harness/core/futex.h"
#include "harness/launch/launcher.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

const auto kReapLimit = std::chrono::duration_cast<std::chrono::milliseconds>(kPeerTimeout);

// Runs tasks [first, first + count): each does its work, then counts (index + 1) into the sum.
std::uint64_t run_tasks(std::uint32_t first, std::uint32_t count, std::uint64_t iters) noexcept {
  std::uint64_t sum = 0;
  for (std::uint32_t i = first; i < first + count; ++i) {
    busy_loop(iters);
    sum += i + 1;
  }
  return sum;
}

// The process pools fork (their workers run a function over the memory they share with the
// parent; make_executor has checked that forking is safe). Through the launcher, so each child
// dies with the parent and keeps only the descriptors it is given.
pid_t fork_worker(std::function<int()> body, std::vector<int> inherit, std::string& why) {
  LaunchSpec spec;
  spec.role = "pool";
  spec.body = std::move(body);
  spec.inherit = std::move(inherit);
  return launch(PeerKind::kFork, std::move(spec), why).pid;
}

std::uint32_t chunks_of(const PoolJob& j) { return (j.tasks + j.chunk - 1) / j.chunk; }
std::uint32_t chunk_len(const PoolJob& j, std::uint32_t c) { return std::min(j.chunk, j.tasks - c * j.chunk); }

// --- TBB ---------------------------------------------------------------------------------

class TbbExecutor final : public PoolExecutor {
 public:
  TbbExecutor(bool parallel_for, unsigned workers)
      : handle_(tbb::attach{}), arena_(int(workers)), parallel_for_(parallel_for) {}
  ~TbbExecutor() override {
    arena_.terminate();
    // Waits until TBB's worker threads have exited: forks made later see one thread again.
    tbb::finalize(handle_, std::nothrow);
  }
  Status run(const PoolJob& job, std::uint64_t& sum, std::string&) noexcept override {
    std::atomic<std::uint64_t> total{0};
    arena_.execute([&] {
      if (parallel_for_) {
        tbb::parallel_for(
            tbb::blocked_range<std::uint32_t>(0, job.tasks, job.chunk),
            [&](const tbb::blocked_range<std::uint32_t>& r) {
              total.fetch_add(run_tasks(r.begin(), r.end() - r.begin(), job.task_iters), std::memory_order_relaxed);
            },
            tbb::simple_partitioner());
      } else {
        tbb::task_group tg;
        for (std::uint32_t c = 0, n = chunks_of(job); c < n; ++c)
          tg.run([&, c] {
            total.fetch_add(run_tasks(c * job.chunk, chunk_len(job, c), job.task_iters), std::memory_order_relaxed);
          });
        tg.wait();
      }
    });
    sum = total.load();
    return Status::Ok();
  }

 private:
  tbb::task_scheduler_handle handle_;
  tbb::task_arena arena_;
  bool parallel_for_;
};

// --- a plain thread pool: one locked queue of chunks, as ThreadPoolExecutor has --------------

class ThreadPool final : public PoolExecutor {
 public:
  explicit ThreadPool(unsigned workers) {
    for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  ~ThreadPool() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_work_.notify_all();
    for (auto& t : threads_) t.join();
  }
  Status run(const PoolJob& job, std::uint64_t& sum, std::string&) noexcept override {
    std::unique_lock<std::mutex> l(mu_);
    job_ = job;
    next_ = 0;
    done_ = 0;
    sum_ = 0;
    chunks_ = chunks_of(job);
    ++generation_;
    cv_work_.notify_all();
    cv_done_.wait(l, [&] { return done_ == chunks_; });
    sum = sum_;
    return Status::Ok();
  }

 private:
  void work() {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_work_.wait(l, [&] { return stop_ || (generation_ != seen && next_ < chunks_); });
      if (stop_) return;
      const std::uint32_t c = next_++;
      if (next_ == chunks_) seen = generation_;
      const PoolJob job = job_;
      l.unlock();
      const std::uint64_t s = run_tasks(c * job.chunk, chunk_len(job, c), job.task_iters);
      l.lock();
      sum_ += s;
      if (++done_ == chunks_) cv_done_.notify_one();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  PoolJob job_;
  std::uint64_t generation_ = 0, sum_ = 0;
  std::uint32_t next_ = 0, done_ = 0, chunks_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// --- process pool over shared memory: a shared chunk counter, as a work queue --------------

struct alignas(kCacheLine) PoolShm {
  std::uint32_t tasks, chunk, chunks;
  std::uint64_t task_iters;
  alignas(kCacheLine) std::atomic<std::uint32_t> generation;
  alignas(kCacheLine) std::atomic<std::uint32_t> stop;
  alignas(kCacheLine) std::atomic<std::uint32_t> next;  // next chunk to take
  alignas(kCacheLine) std::atomic<std::uint32_t> done;  // chunks finished (futex word)
  alignas(kCacheLine) std::atomic<std::uint64_t> sum;
};

// The job's words as a worker reads them, once per chunk it takes: another worker may have
// written anything into them, so each is loaded once and checked before an index is made from
// it (a chunk of 0 would make every index 0, a chunk past the tasks an endless loop). Read per
// chunk, not per job: a worker that wakes late for one job may still be taking chunks when the
// parent publishes the next, and must then count the next job's chunks with its words.
struct PoolJobSeen {
  std::uint32_t tasks, chunk, chunks;
  std::uint64_t task_iters;
  bool valid() const noexcept {
    return chunk > 0 && tasks > 0 && chunks == (std::uint64_t(tasks) + chunk - 1) / chunk;
  }
};

int shm_pool_worker(PoolShm* s) noexcept {
  // Generation 0 is the pool before any job; a worker that starts late must still see job 1.
  std::uint32_t seen = 0;
  for (;;) {
    std::uint32_t g;
    while ((g = s->generation.load(std::memory_order_acquire)) == seen)
      futex_wait_for(&s->generation, seen, kWorkerPoll);
    seen = g;
    if (s->stop.load(std::memory_order_acquire)) return 0;
    for (;;) {
      const std::uint32_t c = s->next.fetch_add(1, std::memory_order_acq_rel);
      const PoolJobSeen job{s->tasks, s->chunk, s->chunks, s->task_iters};
      if (!job.valid()) return kPeerMessageBad;
      if (c >= job.chunks) break;
      const std::uint32_t len = std::min(job.chunk, job.tasks - c * job.chunk);
      s->sum.fetch_add(run_tasks(c * job.chunk, len, job.task_iters), std::memory_order_relaxed);
      if (s->done.fetch_add(1, std::memory_order_acq_rel) + 1 == job.chunks) futex_wake_all(&s->done);
    }
  }
}

class ProcessPoolShm final : public PoolExecutor {
 public:
  static Made<PoolExecutor> make(unsigned workers) {
    Made<ShmSegment> seg = ShmSegment::create(sizeof(PoolShm), "pool");
    if (!seg) return Made<PoolExecutor>::Fail(seg.error);
    std::unique_ptr<ProcessPoolShm> p(new ProcessPoolShm());
    p->seg_ = std::move(seg.value);
    p->s_ = new (p->seg_->data()) PoolShm{};
    std::string err;
    for (unsigned i = 0; i < workers; ++i) {
      PoolShm* s = p->s_;
      const pid_t pid = fork_worker([s] { return shm_pool_worker(s); }, {}, err);
      if (pid < 0) return Made<PoolExecutor>::Fail(err);
      p->pids_.push_back(pid);
    }
    return {std::move(p), {}};
  }
  ~ProcessPoolShm() override {
    s_->stop.store(1, std::memory_order_release);
    s_->generation.fetch_add(1, std::memory_order_acq_rel);
    futex_wake_all(&s_->generation);
    std::string why;
    reap_children(pids_, kReapLimit, why);
  }
  Status run(const PoolJob& job, std::uint64_t& sum, std::string& why) noexcept override {
    // The parent goes by its own count, never the shared copy a worker could overwrite.
    const std::uint32_t chunks = chunks_of(job);
    s_->tasks = job.tasks;
    s_->chunk = job.chunk;
    s_->chunks = chunks;
    s_->task_iters = job.task_iters;
    s_->next.store(0, std::memory_order_relaxed);
    s_->done.store(0, std::memory_order_relaxed);
    s_->sum.store(0, std::memory_order_relaxed);
    s_->generation.fetch_add(1, std::memory_order_acq_rel);
    futex_wake_all(&s_->generation);
    const auto until = std::chrono::steady_clock::now() + kPeerTimeout;
    std::uint32_t d;
    while ((d = s_->done.load(std::memory_order_acquire)) != chunks) {
      // Chunks finished only count up to the job's chunks: more is a worker's garbage, and
      // waiting for the count to come back down would only end at the timeout.
      if (d > chunks) {
        why = "process pool shared word 'done' = " + std::to_string(d) + ", more than the job's " +
              std::to_string(chunks) + " chunks: a worker wrote garbage into the pool's shared memory";
        return Status::Corrupt("pool: shared word done", d);
      }
      if (futex_wait_for(&s_->done, d, kParentPoll) == 0) continue;
      if (const std::string dead = a_worker_died(); !dead.empty()) {
        why = dead;
        return Status::Closed("pool");
      }
      if (std::chrono::steady_clock::now() > until) {
        why = "process pool workers did not finish within " + std::to_string(kPeerTimeout.count()) + " s (done " + std::to_string(d) + " of " + std::to_string(chunks) + ", next " + std::to_string(s_->next.load()) + ")";
        return Status::Cancelled("pool");
      }
    }
    sum = s_->sum.load();
    return Status::Ok();
  }

 private:
  ProcessPoolShm() = default;
  // A worker that ended (refusing a job it found corrupt, or killed) will never count its
  // chunks: say so now rather than at the timeout. Looks without reaping.
  std::string a_worker_died() const {
    for (pid_t pid : pids_)
      if (const std::optional<int> st = ended_status(pid))
        return "process pool worker " + std::to_string(pid) + " ended during the job (" +
               (WIFEXITED(*st) ? "status " + std::to_string(WEXITSTATUS(*st)) + ": " + peer_exit_meaning(WEXITSTATUS(*st))
                               : std::string(strsignal(WTERMSIG(*st)))) +
               ")";
    return "";
  }
  std::unique_ptr<ShmSegment> seg_;
  PoolShm* s_ = nullptr;
  std::vector<pid_t> pids_;
};

// --- process pool over pipes: one task pipe all workers read, one result pipe -------------

struct TaskMsg {
  std::uint32_t first, count;
  std::uint64_t iters;
};
struct ResultMsg {
  std::uint64_t sum;
};
// Pipe writes up to PIPE_BUF bytes are atomic, so many workers can share one pipe each way
// as long as every message is written whole; a read of one message's size gets one message.
constexpr std::size_t kTaskBatch = PIPE_BUF / sizeof(TaskMsg);
constexpr std::size_t kResultBatch = PIPE_BUF / sizeof(ResultMsg);

int pipe_pool_worker(int task_r, int result_w) noexcept {
  for (;;) {
    TaskMsg m;
    ssize_t n;
    do n = read(task_r, &m, sizeof m);
    while (n < 0 && errno == EINTR);
    if (n == 0) return 0;  // the parent closed the task pipe: done
    if (n != sizeof m) return kPeerMessageBad;
    const ResultMsg r{run_tasks(m.first, m.count, m.iters)};
    if (write(result_w, &r, sizeof r) != sizeof r) return kPeerChannelFailed;
  }
}

class ProcessPoolPipe final : public PoolExecutor {
 public:
  static Made<PoolExecutor> make(unsigned workers) {
    std::unique_ptr<ProcessPoolPipe> p(new ProcessPoolPipe());
    int t[2], r[2];
    if (pipe2(t, O_CLOEXEC) != 0) return Made<PoolExecutor>::Fail(sys_error("pipe2"));
    p->task_r_ = t[0], p->task_w_ = t[1];
    if (pipe2(r, O_CLOEXEC) != 0) return Made<PoolExecutor>::Fail(sys_error("pipe2"));
    p->result_r_ = r[0], p->result_w_ = r[1];
    std::string err;
    for (unsigned i = 0; i < workers; ++i) {
      const int tr = p->task_r_, rw = p->result_w_;
      // The child keeps only its own ends: the parent's stay open only in the parent, so its
      // exit reads as end-of-file.
      const pid_t pid = fork_worker([=] { return pipe_pool_worker(tr, rw); }, {tr, rw}, err);
      if (pid < 0) return Made<PoolExecutor>::Fail(err);
      p->pids_.push_back(pid);
    }
    fcntl(p->task_w_, F_SETFL, O_NONBLOCK);
    p->tasks_.resize(kTaskBatch);
    p->results_.resize(kResultBatch);
    return {std::move(p), {}};
  }
  ~ProcessPoolPipe() override {
    for (int* fd : {&task_w_, &task_r_, &result_w_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
    std::string why;
    reap_children(pids_, kReapLimit, why);
    if (result_r_ >= 0) close(result_r_);
  }
  Status run(const PoolJob& job, std::uint64_t& sum, std::string& why) noexcept override {
    const std::uint32_t chunks = chunks_of(job);
    std::uint32_t sent = 0, got = 0;
    sum = 0;
    const int limit_ms = int(kReapLimit.count());
    while (got < chunks) {
      pollfd p[2] = {{result_r_, POLLIN, 0}, {task_w_, short(sent < chunks ? POLLOUT : 0), 0}};
      const int n = poll(p, 2, limit_ms);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        why = "pipe pool workers did not answer within " + std::to_string(kPeerTimeout.count()) + " s";
        return Status::Cancelled("pool");
      }
      if (p[1].revents & POLLOUT) {
        std::size_t k = 0;
        for (; k < kTaskBatch && sent + k < chunks; ++k) {
          const std::uint32_t c = sent + std::uint32_t(k);
          tasks_[k] = TaskMsg{c * job.chunk, chunk_len(job, c), job.task_iters};
        }
        const ssize_t w = write(task_w_, tasks_.data(), k * sizeof(TaskMsg));
        if (w > 0) sent += std::uint32_t(std::size_t(w) / sizeof(TaskMsg));
        else if (errno != EAGAIN && errno != EINTR) {
          why = std::string("write to the task pipe: ") + std::strerror(errno);
          return Status::Sys("write");
        }
      }
      if (p[0].revents & (POLLIN | POLLHUP)) {
        const ssize_t r = read(result_r_, results_.data(), results_.size() * sizeof(ResultMsg));
        if (r <= 0 || r % sizeof(ResultMsg) != 0) {
          why = "the result pipe broke (a worker died?)";
          return Status::Closed("pool");
        }
        const std::size_t n = std::size_t(r) / sizeof(ResultMsg);
        // One result per chunk sent: more is a worker writing what it was never asked.
        if (n > sent - got) {
          why = "the result pipe carried " + std::to_string(got + n) + " results for " + std::to_string(sent) +
                " chunks sent: a worker wrote garbage into it";
          return Status::Corrupt("pool: result pipe", std::uint32_t(got + n));
        }
        for (std::size_t i = 0; i < n; ++i) sum += results_[i].sum;
        got += std::uint32_t(n);
      }
    }
    return Status::Ok();
  }

 private:
  ProcessPoolPipe() = default;
  int task_r_ = -1, task_w_ = -1, result_r_ = -1, result_w_ = -1;
  std::vector<pid_t> pids_;
  std::vector<TaskMsg> tasks_;
  std::vector<ResultMsg> results_;
};

// --- a process per chunk, at most `workers` alive at once ---------------------------------

class ProcessPerTask final : public PoolExecutor {
 public:
  static Made<PoolExecutor> make(unsigned workers) {
    std::unique_ptr<ProcessPerTask> p(new ProcessPerTask());
    p->workers_ = workers;
    int r[2];
    if (pipe2(r, O_CLOEXEC) != 0) return Made<PoolExecutor>::Fail(sys_error("pipe2"));
    p->result_r_ = r[0], p->result_w_ = r[1];
    p->alive_.reserve(kMaxProcessChunks);
    return {std::move(p), {}};
  }
  ~ProcessPerTask() override {
    kill_children(alive_);
    close(result_r_);
    close(result_w_);
  }
  Status run(const PoolJob& job, std::uint64_t& sum, std::string& why) noexcept override {
    const std::uint32_t chunks = chunks_of(job);
    if (chunks > kMaxProcessChunks) {
      why = "process_per_task takes at most " + std::to_string(kMaxProcessChunks) + " chunks per job";
      return Status::Closed("pool");
    }
    std::uint32_t started = 0, got = 0;
    sum = 0;
    while (got < chunks) {
      while (started < chunks && alive_.size() < workers_) {
        const std::uint32_t first = started * job.chunk, len = chunk_len(job, started);
        const std::uint64_t iters = job.task_iters;
        const int w = result_w_;
        const pid_t pid = fork_worker(
            [=] {
              const struct {
                pid_t pid;
                std::uint64_t sum;
              } m{getpid(), run_tasks(first, len, iters)};
              return write(w, &m, sizeof m) == sizeof m ? 0 : 1;
            },
            {w}, why);
        if (pid < 0) return Status::Sys("fork");
        alive_.push_back(pid);
        ++started;
      }
      struct {
        pid_t pid;
        std::uint64_t sum;
      } m;
      ssize_t n;
      do n = read(result_r_, &m, sizeof m);
      while (n < 0 && errno == EINTR);
      if (n != sizeof m) {
        why = "a task process sent no result";
        return Status::Closed("pool");
      }
      // The pid comes from the child: reaping one that is not an alive task of ours would
      // block on a stranger or reap another part of ipcmeter's child.
      const auto it = std::find(alive_.begin(), alive_.end(), m.pid);
      if (it == alive_.end()) {
        why = "a task process's result names pid " + std::to_string(m.pid) + ", not one of the " +
              std::to_string(alive_.size()) + " task processes alive";
        return Status::Corrupt("pool: result message pid", std::uint32_t(m.pid));
      }
      int status = 0;
      // A blocking wait, not the launcher's polling reap_child: this child has sent its
      // result and is exiting, and a poll's sleep would land inside the timed job.
      while (waitpid(m.pid, &status, 0) < 0 && errno == EINTR) {
      }
      forget_child(m.pid);
      alive_.erase(it);
      if (status != 0) {
        why = "a task process ended with wait status " + std::to_string(status);
        return Status::Closed("pool");
      }
      sum += m.sum;
      ++got;
    }
    return Status::Ok();
  }

 private:
  ProcessPerTask() = default;
  unsigned workers_ = 1;
  int result_r_ = -1, result_w_ = -1;
  std::vector<pid_t> alive_;
};

}  // namespace

PoolShmLayout pool_shm_layout() {
  return {offsetof(PoolShm, tasks),      offsetof(PoolShm, chunk), offsetof(PoolShm, chunks),
          offsetof(PoolShm, generation), offsetof(PoolShm, next),  offsetof(PoolShm, done)};
}

WorkRate work_rate_of(std::vector<double> rates) {
  if (rates.empty()) return {};
  const double mid = median_of(rates);
  const auto [lo, hi] = std::minmax_element(rates.begin(), rates.end());
  return {mid, mid > 0 ? (*hi - *lo) / mid : 0};
}

WorkRate calibrate_work_rate() {
  const TickClock& clock = TickClock::get();
  auto window_us = [&](std::uint64_t iters) {
    const std::uint64_t t0 = TickClock::now();
    busy_loop(iters);
    return clock.to_ns(TickClock::now() - t0) / 1000.0;
  };
  // Grow the window until it lasts about kWorkWindowUs, so the timer's cost is negligible.
  std::uint64_t iters = 1 << 16;
  for (double us; (us = window_us(iters)) < kWorkWindowUs / 2 && iters < (std::uint64_t(1) << 40);)
    iters = us > 0 ? std::uint64_t(double(iters) * kWorkWindowUs / us) + 1 : iters * 2;
  std::vector<double> rates;
  for (int w = 0; w < kWorkWindows; ++w) {
    const double us = window_us(iters);
    if (us > 0) rates.push_back(double(iters) / us);
  }
  return work_rate_of(std::move(rates));
}

std::uint64_t task_iterations(double task_us, const WorkRate& rate) {
  return std::max<std::uint64_t>(1, std::uint64_t(std::llround(task_us * rate.iters_per_us)));
}

Made<PoolExecutor> make_executor(std::string_view name, unsigned workers) {
  const auto e = parse_executor(name);
  if (!e) return Made<PoolExecutor>::Fail("unknown executor '" + std::string(name) + "'");
  return make_executor(*e, workers);
}

Made<PoolExecutor> make_executor(Executor e, unsigned workers) {
  if (workers == 0 || workers > kMaxWorkers)
    return Made<PoolExecutor>::Fail("workers must be between 1 and " + std::to_string(kMaxWorkers));
  const bool forks = e == Executor::kProcessPoolShm || e == Executor::kProcessPoolPipe || e == Executor::kProcessPerTask;
  if (forks) {
    if (std::string no = fork_unsafe_reason(); !no.empty()) return Made<PoolExecutor>::Fail(no);
  }
  switch (e) {
    case Executor::kTbbTaskGroup: return {std::make_unique<TbbExecutor>(false, workers), {}};
    case Executor::kTbbParallelFor: return {std::make_unique<TbbExecutor>(true, workers), {}};
    case Executor::kThreadPool: return {std::make_unique<ThreadPool>(workers), {}};
    case Executor::kProcessPoolShm: return ProcessPoolShm::make(workers);
    case Executor::kProcessPoolPipe: return ProcessPoolPipe::make(workers);
    case Executor::kProcessPerTask: return ProcessPerTask::make(workers);
  }
  return Made<PoolExecutor>::Fail("unknown executor");
}

}  // namespace ipcm
