#include "harness/workers.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "harness/env.h"
#include "harness/forkserver.h"
#include "harness/kernels.h"
#include "harness/names.h"
#include "harness/peer.h"
#include "harness/starts.h"

extern char** environ;

namespace ipcm {
namespace {

constexpr auto kReapPoll = std::chrono::microseconds(200);

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "ended abnormally";
}

}  // namespace

void worker_role_main(int argc, char** argv) {
  const char* role = argc > 2 ? argv[2] : "";
  // Each role reads its own arguments after the role name.
  char** args = argv + 3;
  const int nargs = argc > 3 ? argc - 3 : 0;
  if (std::strcmp(role, "hello") == 0) hello_main(nargs, args);
  if (std::strcmp(role, "forkserver") == 0) forkserver_main(nargs, args);
  if (std::strcmp(role, "compute") == 0) compute_worker_main(nargs, args);
  if (std::strcmp(role, "farm") == 0) farm_worker_main(nargs, args);
  std::fprintf(stderr, "ipcmeter worker: unknown role '%s'\n", role);
  _exit(kPeerUsage);
}

int thread_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
  }
  return n;
}

std::string fork_unsafe_reason() {
  const int n = thread_count();
  if (n == 1) return "";
  return std::to_string(n) + " threads are alive in this process (TBB workers or another family's threads); "
         "a forked child could inherit a lock one of them holds, so fork is refused";
}

ScopedAffinity::ScopedAffinity(const std::vector<int>& cpus) : saved_(thread_affinity()) {
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  sched_setaffinity(0, sizeof set, &set);
}

ScopedAffinity::~ScopedAffinity() {
  if (saved_.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : saved_) CPU_SET(c, &set);
  sched_setaffinity(0, sizeof set, &set);
}

pid_t spawn_worker(const std::vector<std::string>& args, const std::vector<int>& inherit, std::string& err) {
  std::vector<std::string> argv = {self_exe(), kWorkerFlag};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = spawn_self(std::move(argv), inherit, -1, err);
  if (pid < 0) return -1;
  record_child(pid);
  return pid;
}

pid_t fork_worker(const std::function<int()>& fn, std::string& err) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    err = sys_error("fork");
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(kPeerOrphaned);
    _exit(fn());
  }
  record_child(pid);
  return pid;
}

Status reap_workers(std::vector<pid_t>& pids, std::chrono::milliseconds limit, std::string& why) {
  const auto until = std::chrono::steady_clock::now() + limit;
  bool ok = true;
  for (pid_t pid : pids) {
    int status = 0;
    for (;;) {
      const pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) {
        status = -1;
        break;
      }
      if (std::chrono::steady_clock::now() > until) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (why.empty()) why = "worker " + std::to_string(pid) + " did not finish in time and was killed";
        ok = false;
        break;
      }
      std::this_thread::sleep_for(kReapPoll);
    }
    forget_child(pid);
    if (status != 0 && ok) {
      ok = false;
      why = "worker " + std::to_string(pid) + " " + (status == -1 ? std::string("could not be waited for") : describe_status(status));
    }
  }
  pids.clear();
  return ok ? Status::Ok() : Status::Closed("a worker failed");
}

void kill_workers(std::vector<pid_t>& pids) noexcept {
  for (pid_t pid : pids) kill(pid, SIGKILL);
  for (pid_t pid : pids) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    forget_child(pid);
  }
  pids.clear();
}

bool no_children_left() { return waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD; }

int futex_wait_for(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::chrono::nanoseconds limit) noexcept {
  timespec ts;
  ts.tv_sec = time_t(limit.count() / 1'000'000'000);
  ts.tv_nsec = long(limit.count() % 1'000'000'000);
  const long r = syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
  if (r == 0 || errno == EAGAIN) return 0;
  return -1;
}

void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

void prctl_die_with_parent() noexcept { prctl(PR_SET_PDEATHSIG, SIGKILL); }

bool parse_u64(const char* s, std::uint64_t& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0') return false;
  out = v;
  return true;
}

}  // namespace ipcm
