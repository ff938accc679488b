#include "harness/launch/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "harness/core/check.h"
#include "harness/core/clock.h"
#include "harness/core/limits.h"
#include "harness/core/names.h"

extern char** environ;

namespace ipcm {
namespace {

struct RoleEntry {
  std::string_view name;
  RoleMain main;
};

// A function-local static: registrations run during static initialisation, in any order.
std::vector<RoleEntry>& roles() {
  static std::vector<RoleEntry> r;
  return r;
}

// The launcher's own arguments, ahead of the role's: argv[2] role, argv[3] parent=, argv[4]
// ns_per_tick=.
constexpr int kLauncherArgs = 5;
constexpr std::string_view kParentKey = "parent=", kTickKey = "ns_per_tick=";

// The signals ipcmeter handles itself (cleanup on interrupt, the watchdog's wake-up, a
// vanished peer as EPIPE); a child starts with them at their defaults.
constexpr int kHandledSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGPIPE};
// What a forked child resets: the cleanup handlers would remove the parent's objects. SIGUSR1
// and SIGPIPE it keeps as the parent set them, which is what install_peer_signals sets.
constexpr int kForkResetSignals[] = {SIGINT, SIGTERM, SIGHUP};

void no_op(int) {}

std::chrono::seconds read_peer_timeout() {
  const char* v = std::getenv("IPCMETER_PEER_TIMEOUT_S");
  if (v == nullptr) return kPeerTimeout;
  char* end = nullptr;
  const long s = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || s < 1 || s > kPeerTimeout.count()) return kPeerTimeout;
  return std::chrono::seconds(s);
}

[[noreturn]] void role_fail(const char* role, int code, const std::string& why) {
  std::fprintf(stderr, "ipcmeter %s: %s\n", role, why.c_str());
  std::fflush(stderr);
  _exit(code);
}

// In a child between fork and its work or exec: only async-signal-safe calls. Keeps stdio
// and `keep` (sorted), closes every other descriptor.
void close_all_but(const std::vector<int>& keep) noexcept {
  unsigned from = 3;
  for (int fd : keep) {
    if (fd < int(from)) continue;
    if (unsigned(fd) > from) close_range(from, unsigned(fd) - 1, 0);
    from = unsigned(fd) + 1;
  }
  close_range(from, ~0u, 0);
}

// The hygiene every forked child gets first, whatever it runs next (async-signal-safe only).
void forked_child_hygiene(pid_t parent, int stderr_fd, const std::vector<int>& keep) noexcept {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent may have died before the line above armed the death signal.
  if (getppid() != parent) _exit(kPeerOrphaned);
  for (int sig : kForkResetSignals) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (stderr_fd >= 0) dup2(stderr_fd, STDERR_FILENO);
  close_all_but(keep);
}

std::vector<int> sorted(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<char*> c_argv(std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (std::string& a : argv) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

// The role's entry with the launcher's hygiene, in a spawned copy (from main) or a forked
// child without a body (argv as a spawned copy would get it). Returns the exit code.
int enter_role(int argc, char** argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  install_peer_signals();
  const char* name = argc > 2 ? argv[2] : "";
  RoleMain main = find_role(name);
  if (main == nullptr) role_fail("peer", kPeerUsage, "unknown role '" + std::string(name) + "'");
  if (argc < kLauncherArgs || std::string_view(argv[3]).substr(0, kParentKey.size()) != kParentKey ||
      std::string_view(argv[4]).substr(0, kTickKey.size()) != kTickKey)
    role_fail(name, kPeerUsage, "missing parent= or ns_per_tick=");
  const long parent = std::atol(argv[3] + kParentKey.size());
  if (parent <= 0) role_fail(name, kPeerUsage, "bad argument " + std::string(argv[3]));
  if (getppid() != pid_t(parent)) role_fail(name, kPeerOrphaned, "parent is gone");
  TickClock::adopt(std::atof(argv[4] + kTickKey.size()));
  return main(argc - kLauncherArgs, argv + kLauncherArgs);
}

pid_t spawn_copy(std::vector<std::string> argv, const std::vector<int>& inherit, int stderr_fd, std::string& err) {
  std::vector<char*> cargv = c_argv(argv);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  // dup2 onto itself clears FD_CLOEXEC (POSIX.1-2024, glibc >= 2.29); everything else of
  // ours is close-on-exec, so the child inherits exactly these.
  for (int fd : inherit) posix_spawn_file_actions_adddup2(&fa, fd, fd);
  if (stderr_fd >= 0) posix_spawn_file_actions_adddup2(&fa, stderr_fd, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t def_sigs, none;
  sigemptyset(&def_sigs);
  for (int sig : kHandledSignals) sigaddset(&def_sigs, sig);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &def_sigs);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  // posix_spawn, not fork: safe whatever threads this process has, and cheap whatever its
  // size. The copy arms its death signal itself, first thing (enter_role).
  const int rc = posix_spawn(&pid, self_exe().c_str(), &fa, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    err = sys_error("posix_spawn " + self_exe(), rc);
    return -1;
  }
  return pid;
}

// fork, with the child's hygiene (forked_child_hygiene) done before `child`, which must not
// return. `keep` is made by the caller before the fork, so the child allocates nothing first.
template <class Child>
pid_t fork_with_hygiene(int stderr_fd, const std::vector<int>& keep, std::string& err, Child&& child) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    err = sys_error("fork");
    return -1;
  }
  if (pid == 0) {
    forked_child_hygiene(parent, stderr_fd, keep);
    child();
  }
  return pid;
}

// The fork mechanism. Everything the child needs (argv, the descriptor list) is made before
// the fork, so the child allocates nothing before its body or the role's entry runs.
pid_t fork_party(LaunchSpec& spec, std::string& err) {
  std::vector<std::string> argv;
  std::vector<char*> cargv;
  if (!spec.body) {
    argv = role_argv(spec.role, spec.args);
    cargv = c_argv(argv);
  }
  return fork_with_hygiene(spec.stderr_fd, sorted(spec.inherit), err, [&] {
    _exit(spec.body ? spec.body() : enter_role(int(cargv.size()) - 1, cargv.data()));
  });
}

}  // namespace

std::chrono::seconds peer_timeout() {
  static const std::chrono::seconds t = read_peer_timeout();
  return t;
}

const char* peer_exit_meaning(int code) {
  switch (code) {
    case kPeerOk: return "success";
    case kPeerUsage: return "bad peer arguments";
    case kPeerAttachFailed: return "could not attach to the link";
    case kPeerChannelFailed: return "a channel operation failed";
    case kPeerMessageBad: return "a received message failed its check";
    case kPeerOrphaned: return "its parent was gone";
  }
  return "unknown failure";
}

RoleRegistrar::RoleRegistrar(std::string_view name, RoleMain main) {
  IPCM_CHECK(find_role(name) == nullptr);
  roles().push_back({name, main});
}

RoleMain find_role(std::string_view name) {
  for (const RoleEntry& r : roles())
    if (r.name == name) return r.main;
  return nullptr;
}

void run_role_if_requested(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], kRoleFlag) != 0) return;
  const int code = enter_role(argc, argv);
  std::fflush(stderr);
  _exit(code);
}

std::vector<std::string> role_argv(std::string_view role, const std::vector<std::string>& args) {
  IPCM_CHECK(find_role(role) != nullptr);
  char tick[64];
  std::snprintf(tick, sizeof tick, "%.17g", TickClock::get().ns_per_tick());
  std::vector<std::string> v = {self_exe(), kRoleFlag, std::string(role), std::string(kParentKey) + std::to_string(getpid()),
                                std::string(kTickKey) + tick};
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

const std::string& self_exe() {
  static const std::string path = [] {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    IPCM_CHECK(n > 0);
    return std::string(buf, std::size_t(n));
  }();
  return path;
}

Launched launch(PeerKind k, LaunchSpec spec, std::string& err) {
  Launched out;
  switch (peer_def(k).mechanism) {
    case Mechanism::kThread:
      IPCM_CHECK(spec.body);
      out.thread = std::thread(std::move(spec.body));
      return out;
    case Mechanism::kFork:
      out.pid = fork_party(spec, err);
      break;
    case Mechanism::kSpawn:
      out.pid = spawn_copy(role_argv(spec.role, spec.args), spec.inherit, spec.stderr_fd, err);
      break;
  }
  if (out.pid > 0) record_child(out.pid);
  return out;
}

pid_t launch_program(const std::string& path, const std::vector<std::string>& argv, const std::vector<int>& inherit,
                     int stderr_fd, std::string& err, bool stdout_to_stderr) {
  std::vector<std::string> args = argv;
  std::vector<char*> cargv = c_argv(args);
  const std::vector<int> keep = sorted(inherit);
  // fork, not posix_spawn: only a child of ours can arm the death signal for a program that
  // does not know to. The child calls only async-signal-safe functions, so this is safe in a
  // process with threads.
  const pid_t pid = fork_with_hygiene(stderr_fd, keep, err, [&] {
    for (int sig : kHandledSignals) signal(sig, SIG_DFL);
    if (stdout_to_stderr) dup2(STDERR_FILENO, STDOUT_FILENO);
    // Ours are all close-on-exec; the ones it is given must survive the exec.
    for (int fd : keep) fcntl(fd, F_SETFD, 0);
    execve(path.c_str(), cargv.data(), environ);
    _exit(127);
  });
  if (pid < 0) return -1;
  record_child(pid);
  return pid;
}

std::optional<int> ended_status(pid_t pid) noexcept {
  siginfo_t si{};
  if (waitid(P_PID, id_t(pid), &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid != pid) return std::nullopt;
  // As waitpid would have encoded it, so describe_wait_status reads both.
  return si.si_code == CLD_EXITED ? (si.si_status << 8) : si.si_status;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status))
    return "exited with status " + std::to_string(WEXITSTATUS(status)) + " (" + peer_exit_meaning(WEXITSTATUS(status)) + ")";
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "ended abnormally";
}

bool reap_child(pid_t pid, std::chrono::steady_clock::time_point until, int& status) noexcept {
  bool killed = false;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      status = -1;
      break;
    }
    if (!killed && std::chrono::steady_clock::now() >= until) {
      kill(pid, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(kReapPoll);
  }
  forget_child(pid);
  return !killed;
}

Status reap_children(std::vector<pid_t>& pids, std::chrono::milliseconds limit, std::string& why) {
  const auto until = std::chrono::steady_clock::now() + limit;
  bool ok = true;
  for (pid_t pid : pids) {
    int status = 0;
    const bool in_time = reap_child(pid, until, status);
    if (!in_time && ok) why = "worker " + std::to_string(pid) + " did not finish in time and was killed";
    else if (status != 0 && ok)
      why = "worker " + std::to_string(pid) + " " + (status == -1 ? std::string("could not be waited for") : describe_wait_status(status));
    ok = ok && in_time && status == 0;
  }
  pids.clear();
  return ok ? Status::Ok() : Status::Closed("a worker failed");
}

void kill_children(std::vector<pid_t>& pids) noexcept {
  for (pid_t pid : pids) kill(pid, SIGKILL);
  for (pid_t pid : pids) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    forget_child(pid);
  }
  pids.clear();
}

std::optional<int> try_reap(pid_t pid) noexcept {
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != pid) return std::nullopt;
  forget_child(pid);
  return status;
}

namespace {
std::atomic<pid_t> g_run_daemon{0};
}  // namespace

void set_run_daemon(pid_t pid) noexcept { g_run_daemon.store(pid); }

bool no_children_left() {
  if (waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD) return true;
  const pid_t daemon = g_run_daemon.load();
  if (daemon <= 0) return false;
  // Children left, none ended: each thread's list of children must hold the daemon only.
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream children(task.path() / "children");
    for (long pid; children >> pid;)
      if (pid != daemon) return false;
  }
  return !ec;
}

void install_peer_signals() {
  struct sigaction sa {};
  sa.sa_handler = no_op;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the point is to make blocking calls return EINTR
  sigaction(SIGUSR1, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace ipcm
