#include "harness/core/kernel_counters.h"

#include <dirent.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "harness/core/check.h"

namespace ipcm {
namespace {

constexpr std::size_t idx(KCounter c) { return std::size_t(c); }

// The perf events opened per task, and the counter each feeds.
enum class PerfEvent { kCtxSwitches, kCpuMigrations, kPageFaults, kSyscalls, kCycles, kInstructions, kCacheMisses };
constexpr std::size_t kNumPerfEvents = 7;
constexpr KCounter kFeeds[kNumPerfEvents] = {KCounter::kCtxSwitches, KCounter::kCpuMigrations, KCounter::kPageFaults,
                                             KCounter::kSyscalls,    KCounter::kCycles,        KCounter::kInstructions,
                                             KCounter::kCacheMisses};
constexpr bool is_hardware(PerfEvent e) { return e >= PerfEvent::kCycles; }

// Where kernels put the tracepoint's id: tracefs's own mount point, then its old place inside
// debugfs.
constexpr const char* kSysEnterIdPaths[] = {"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
                                            "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id"};

std::optional<long> read_long_file(const char* path) {
  std::ifstream in(path);
  long v = 0;
  if (!(in >> v)) return std::nullopt;
  return v;
}

std::optional<long> sys_enter_id() {
  static const std::optional<long> id = [] {
    for (const char* p : kSysEnterIdPaths)
      if (auto v = read_long_file(p)) return v;
    return std::optional<long>();
  }();
  return id;
}

std::string paranoid_text() {
  const auto v = read_long_file("/proc/sys/kernel/perf_event_paranoid");
  return v ? std::to_string(*v) : std::string("unknown");
}

// The sentence for a refused perf_event_open, by what was asked and what the kernel said.
std::string open_refusal(PerfEvent e, int err) {
  const std::string said = std::string("perf_event_open: ") + std::strerror(err);
  switch (err) {
    case EACCES:
    case EPERM:
      return said + "; kernel.perf_event_paranoid is " + paranoid_text() +
             ", and counting a thread's kernel-side events needs it at 1 or below, or CAP_PERFMON";
    case ENOSYS:
      return said + "; perf events are not available (a kernel built without them, or a seccomp filter)";
    case ENOENT:
    case ENODEV:
    case EOPNOTSUPP:
      if (is_hardware(e)) return said + "; no hardware counters are exposed here (a VM without a virtual PMU)";
      return said + "; this kernel does not offer the event";
    case ESRCH:
      return said + "; the thread had already ended";
    default:
      return said;
  }
}

int perf_open(perf_event_attr& attr, pid_t tid) {
  return int(syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC));
}

// Each event opened disabled on one thread (not its future children: peers start none that
// take part in the link), kernel and user side both: a context switch or a system call happens
// in the kernel.
perf_event_attr attr_of(PerfEvent e) {
  perf_event_attr a{};
  a.size = sizeof a;
  a.disabled = 1;
  a.exclude_hv = 1;
  // Hardware counters may be multiplexed when the PMU is short of slots; the times say so.
  a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  switch (e) {
    case PerfEvent::kCtxSwitches: a.type = PERF_TYPE_SOFTWARE; a.config = PERF_COUNT_SW_CONTEXT_SWITCHES; break;
    case PerfEvent::kCpuMigrations: a.type = PERF_TYPE_SOFTWARE; a.config = PERF_COUNT_SW_CPU_MIGRATIONS; break;
    case PerfEvent::kPageFaults: a.type = PERF_TYPE_SOFTWARE; a.config = PERF_COUNT_SW_PAGE_FAULTS; break;
    case PerfEvent::kSyscalls: a.type = PERF_TYPE_TRACEPOINT; a.config = std::uint64_t(sys_enter_id().value_or(0)); break;
    case PerfEvent::kCycles: a.type = PERF_TYPE_HARDWARE; a.config = PERF_COUNT_HW_CPU_CYCLES; break;
    case PerfEvent::kInstructions: a.type = PERF_TYPE_HARDWARE; a.config = PERF_COUNT_HW_INSTRUCTIONS; break;
    case PerfEvent::kCacheMisses: a.type = PERF_TYPE_HARDWARE; a.config = PERF_COUNT_HW_CACHE_MISSES; break;
  }
  return a;
}

std::string task_dir(const TaskRef& t) {
  return "/proc/" + std::to_string(t.pid) + "/task/" + std::to_string(t.tid);
}

// "name:   value" lines of /proc status and sched files.
std::optional<std::uint64_t> field_of(const std::string& path, const std::string& name) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size(), name) != 0) continue;
    const std::size_t colon = line.find(':', name.size());
    if (colon == std::string::npos || line.find_first_not_of(" \t", name.size()) != colon) continue;
    return std::strtoull(line.c_str() + colon + 1, nullptr, 10);
  }
  return std::nullopt;
}

// The counters the contract names for the link rows, whose absence is worth a line on
// stderr; the hardware ones are extras, absent as a rule on VMs.
bool is_warned(KCounter c) {
  return c == KCounter::kCtxSwitches || c == KCounter::kCpuMigrations || c == KCounter::kPageFaults ||
         c == KCounter::kSyscalls;
}

// What every process records about the counters: the first reason each was absent, and
// where it was last found, for the results file.
struct Notes {
  std::mutex mu;
  std::array<std::string, kNumKCounters> why;
  std::array<std::string, kNumKCounters> source;
  bool any = false;
};
Notes& notes() {
  static Notes n;
  return n;
}

}  // namespace

const char* kcounter_per_msg_name(KCounter c) {
  switch (c) {
    case KCounter::kCtxSwitches: return "ctx_switches_per_msg";
    case KCounter::kVoluntarySwitches: return "voluntary_switches_per_msg";
    case KCounter::kInvoluntarySwitches: return "involuntary_switches_per_msg";
    case KCounter::kCpuMigrations: return "cpu_migrations_per_msg";
    case KCounter::kPageFaults: return "page_faults_per_msg";
    case KCounter::kSyscalls: return "syscalls_per_msg";
    case KCounter::kCycles: return "cycles_per_msg";
    case KCounter::kInstructions: return "instructions_per_msg";
    case KCounter::kCacheMisses: return "cache_misses_per_msg";
  }
  IPCM_CHECK(false);
  return "";
}

TaskRef this_thread_task() noexcept { return {getpid(), pid_t(syscall(SYS_gettid))}; }

std::vector<TaskRef> tasks_of_process(pid_t pid) {
  std::vector<TaskRef> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    out.push_back({pid, pid_t(std::atoi(e->d_name))});
  }
  closedir(d);
  return out;
}

std::vector<std::pair<const char*, double>> per_message(const KernelCounts& counts, std::uint64_t messages) {
  std::vector<std::pair<const char*, double>> out;
  if (messages == 0) return out;
  for (KCounter c : kAllKCounters)
    if (const auto& v = counts[idx(c)]) out.emplace_back(kcounter_per_msg_name(c), double(*v) / double(messages));
  return out;
}

// One task's perf events; -1 where an event could not be opened (why says why).
struct KernelCounters::TaskEvents {
  std::array<int, kNumPerfEvents> fd;
  std::array<std::string, kNumPerfEvents> why;
  TaskEvents() { fd.fill(-1); }
  ~TaskEvents() {
    for (int f : fd)
      if (f >= 0) close(f);
  }
};

// One task's /proc tallies at one moment; absent where the file could not be read.
struct KernelCounters::ProcSnapshot {
  std::optional<std::uint64_t> voluntary, involuntary, minflt, majflt, migrations;

  static ProcSnapshot of(const TaskRef& t) {
    ProcSnapshot s;
    const std::string dir = task_dir(t);
    s.voluntary = field_of(dir + "/status", "voluntary_ctxt_switches");
    s.involuntary = field_of(dir + "/status", "nonvoluntary_ctxt_switches");
    // /proc/<pid>/stat: after the command's closing parenthesis, minflt is field 10 and majflt
    // field 12 of the file (the 8th and 10th after the parenthesis).
    std::ifstream in(dir + "/stat");
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (const std::size_t paren = all.rfind(')'); paren != std::string::npos) {
      std::istringstream rest(all.substr(paren + 1));
      std::string f[10];
      for (auto& x : f) rest >> x;
      if (rest) {
        s.minflt = std::strtoull(f[7].c_str(), nullptr, 10);
        s.majflt = std::strtoull(f[9].c_str(), nullptr, 10);
      }
    }
    // Only kernels built with scheduler statistics (CONFIG_SCHED_DEBUG) have it.
    s.migrations = field_of(dir + "/sched", "se.nr_migrations");
    return s;
  }
};

KernelCounters::KernelCounters(std::vector<TaskRef> tasks) : tasks_(std::move(tasks)) {
  for (const TaskRef& t : tasks_) {
    auto g = std::make_unique<TaskEvents>();
    for (std::size_t e = 0; e < kNumPerfEvents; ++e) {
      const PerfEvent ev = PerfEvent(e);
      if (ev == PerfEvent::kSyscalls && !sys_enter_id()) {
        g->why[e] = "the raw_syscalls:sys_enter tracepoint's id is not readable (tracefs is not mounted at "
                    "/sys/kernel/tracing nor at /sys/kernel/debug/tracing, or not readable by this user)";
        continue;
      }
      perf_event_attr a = attr_of(ev);
      g->fd[e] = perf_open(a, t.tid);
      if (g->fd[e] < 0) g->why[e] = open_refusal(ev, errno);
    }
    groups_.push_back(std::move(g));
  }
}

KernelCounters::~KernelCounters() = default;

// The groups with the calling thread's own last: its syscall event is then enabled after every
// other ioctl of start(), and (walked backwards) disabled before every other one of stop().
std::vector<KernelCounters::TaskEvents*> KernelCounters::own_last() const {
  const pid_t me = this_thread_task().tid;
  std::vector<TaskEvents*> v;
  for (std::size_t i = 0; i < tasks_.size(); ++i)
    if (tasks_[i].tid != me) v.push_back(groups_[i].get());
  for (std::size_t i = 0; i < tasks_.size(); ++i)
    if (tasks_[i].tid == me) v.push_back(groups_[i].get());
  return v;
}

void KernelCounters::start() {
  proc_before_.clear();
  for (const TaskRef& t : tasks_) proc_before_.push_back(ProcSnapshot::of(t));
  // The syscall events last, so no enable is counted as the measuring thread's system call.
  // The order is kept for stop(): making it asks the kernel who this thread is.
  order_ = own_last();
  const std::vector<TaskEvents*>& order = order_;
  for (std::size_t e = 0; e < kNumPerfEvents; ++e) {
    const std::size_t ev = (e + std::size_t(PerfEvent::kSyscalls) + 1) % kNumPerfEvents;  // ends with kSyscalls
    for (TaskEvents* g : order) {
      if (g->fd[ev] < 0) continue;
      ioctl(g->fd[ev], PERF_EVENT_IOC_RESET, 0);
      ioctl(g->fd[ev], PERF_EVENT_IOC_ENABLE, 0);
    }
  }
}

void KernelCounters::stop() {
  // start()'s order backwards: the measuring thread's syscall event first, so only that one
  // disable is counted.
  const std::vector<TaskEvents*>& order = order_;
  for (std::size_t e = kNumPerfEvents; e-- > 0;) {
    const std::size_t ev = (e + std::size_t(PerfEvent::kSyscalls) + 1) % kNumPerfEvents;
    for (auto g = order.rbegin(); g != order.rend(); ++g)
      if ((*g)->fd[ev] >= 0) ioctl((*g)->fd[ev], PERF_EVENT_IOC_DISABLE, 0);
  }
  proc_after_.clear();
  for (const TaskRef& t : tasks_) proc_after_.push_back(ProcSnapshot::of(t));
}

KernelCounts KernelCounters::tally() {
  KernelCounts out;
  auto& source = source_;
  auto& why = why_;
  source.fill("");
  why.fill("");
  if (tasks_.empty()) {
    why.fill("the threads of the two sides are not known");
    return out;
  }

  // perf first: a counter from perf only when every task's event opened and counted throughout.
  for (std::size_t e = 0; e < kNumPerfEvents; ++e) {
    std::uint64_t sum = 0;
    std::string missing;
    for (const auto& g : groups_) {
      if (g->fd[e] < 0) {
        missing = g->why[e];
        break;
      }
      std::uint64_t v[3] = {};  // value, time enabled, time running
      if (read(g->fd[e], v, sizeof v) != ssize_t(sizeof v)) {
        missing = std::string("reading the perf event failed: ") + std::strerror(errno);
        break;
      }
      if (v[2] < v[1]) {
        missing = "the PMU was shared and counted this event only part of the time (multiplexed)";
        break;
      }
      sum += v[0];
    }
    const std::size_t c = idx(kFeeds[e]);
    if (missing.empty()) {
      out[c] = sum;
      source[c] = "perf_event_open";
    } else {
      why[c] = missing;
    }
  }

  // /proc: the split always, and the totals where perf could not count them.
  auto proc_delta = [&](auto member) -> std::optional<std::uint64_t> {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < tasks_.size(); ++i) {
      const auto& a = proc_before_[i].*member;
      const auto& b = proc_after_[i].*member;
      if (!a || !b || *b < *a) return std::nullopt;
      sum += *b - *a;
    }
    return sum;
  };
  const bool bracketed = proc_before_.size() == tasks_.size() && proc_after_.size() == tasks_.size();
  const auto vol = bracketed ? proc_delta(&ProcSnapshot::voluntary) : std::nullopt;
  const auto invol = bracketed ? proc_delta(&ProcSnapshot::involuntary) : std::nullopt;
  const std::string no_status = "a thread's /proc/<pid>/task/<tid>/status could not be read before and after";
  auto set_proc = [&](KCounter c, std::optional<std::uint64_t> v, const std::string& missing) {
    if (v) {
      out[idx(c)] = v;
      source[idx(c)] = "/proc";
      why[idx(c)] = "";
    } else if (why[idx(c)].empty()) {
      why[idx(c)] = missing;
    } else {
      why[idx(c)] += "; " + missing;
    }
  };
  set_proc(KCounter::kVoluntarySwitches, vol, no_status);
  set_proc(KCounter::kInvoluntarySwitches, invol, no_status);
  if (!out[idx(KCounter::kCtxSwitches)])
    set_proc(KCounter::kCtxSwitches, vol && invol ? std::optional(*vol + *invol) : std::nullopt, no_status);
  if (!out[idx(KCounter::kPageFaults)]) {
    const auto mn = bracketed ? proc_delta(&ProcSnapshot::minflt) : std::nullopt;
    const auto mj = bracketed ? proc_delta(&ProcSnapshot::majflt) : std::nullopt;
    set_proc(KCounter::kPageFaults, mn && mj ? std::optional(*mn + *mj) : std::nullopt,
             "a thread's /proc/<pid>/task/<tid>/stat could not be read before and after");
  }
  if (!out[idx(KCounter::kCpuMigrations)])
    set_proc(KCounter::kCpuMigrations, bracketed ? proc_delta(&ProcSnapshot::migrations) : std::nullopt,
             "/proc/<pid>/task/<tid>/sched has no se.nr_migrations (a kernel without CONFIG_SCHED_DEBUG)");
  return out;
}

KernelCounts KernelCounters::counts() {
  const KernelCounts out = tally();
  Notes& n = notes();
  std::lock_guard<std::mutex> lock(n.mu);
  n.any = true;
  for (std::size_t c = 0; c < kNumKCounters; ++c) {
    if (out[c]) {
      n.source[c] = source_[c];
    } else if (n.why[c].empty()) {
      n.why[c] = why_[c];
      if (is_warned(KCounter(c)))
        std::fprintf(stderr, "ipcmeter: warning: %s not counted: %s\n", kcounter_per_msg_name(KCounter(c)),
                     why_[c].c_str());
    }
  }
  return out;
}

nlohmann::json kernel_counters_json() {
  std::array<std::string, kNumKCounters> why, source;
  bool counted = false;
  {
    Notes& n = notes();
    std::lock_guard<std::mutex> lock(n.mu);
    counted = n.any;
    why = n.why;
    source = n.source;
  }
  if (!counted) {
    // No row has counted: what this thread can count says what rows would have.
    KernelCounters probe({this_thread_task()});
    probe.start();
    probe.stop();
    probe.tally();
    for (KCounter c : kAllKCounters) why[idx(c)] = probe.why_absent(c), source[idx(c)] = probe.source(c);
  }
  nlohmann::json counters = nlohmann::json::object();
  for (KCounter c : kAllKCounters) {
    const std::size_t i = idx(c);
    const bool available = !source[i].empty();
    counters[kcounter_per_msg_name(c)] = {
        {"available", available},
        {"source", available ? nlohmann::json(source[i]) : nlohmann::json(nullptr)},
        // Why it was absent where it was (a counter may be present in some rows only).
        {"why_absent", why[i].empty() ? nlohmann::json(nullptr) : nlohmann::json(why[i])},
    };
  }
  const auto paranoid = read_long_file("/proc/sys/kernel/perf_event_paranoid");
  return {{"perf_event_paranoid", paranoid ? nlohmann::json(*paranoid) : nlohmann::json(nullptr)},
          {"syscall_tracepoint_id", sys_enter_id() ? nlohmann::json(*sys_enter_id()) : nlohmann::json(nullptr)},
          {"counters", counters}};
}

}  // namespace ipcm
