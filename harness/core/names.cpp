#include "harness/core/names.h"

#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "harness/core/check.h"
#include "harness/core/status.h"

namespace ipcm {
namespace {

// Fixed tables rather than containers: the signal handler must be able to walk them
// without allocating or locking.
constexpr std::size_t kMaxRecorded = 256;
constexpr std::size_t kMaxNameLen = 160;
constexpr std::size_t kMaxChildren = 1024;

struct Entry {
  std::atomic<int> state{0};  // 0 free, 1 being written, 2 live
  NameSpace ns{};
  char name[kMaxNameLen]{};
};
std::array<Entry, kMaxRecorded> g_objects;
std::array<std::atomic<pid_t>, kMaxChildren> g_children{};

constexpr const char* kShmDir = "/dev/shm";
constexpr const char* kMqDir = "/dev/mqueue";

// Empties and removes a private FIFO directory. Opened with O_NOFOLLOW and checked to be this
// user's by fstat, so a symlink someone put at the name is never followed into another
// directory; entries are removed relative to that descriptor, unlinkat never follows a
// symlink. Async-signal-safe: getdents64 into a stack buffer, no opendir (it allocates).
void remove_private_dir(const char* path) noexcept {
  const int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return;
  struct stat st;
  if (fstat(dfd, &st) != 0 || st.st_uid != geteuid()) {
    close(dfd);
    return;
  }
  alignas(dirent64) char buf[4096];
  for (;;) {
    const ssize_t n = getdents64(dfd, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* e = reinterpret_cast<const dirent64*>(buf + off);
      off += e->d_reclen;
      // Directories are never made here, so unlinkat(…, 0) is all it takes (it fails on one).
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) unlinkat(dfd, e->d_name, 0);
    }
  }
  close(dfd);
  rmdir(path);  // fails harmlessly (ENOTDIR) if the name is a symlink by now
}

void remove_one(NameSpace ns, const char* name) noexcept {
  switch (ns) {
    case NameSpace::kShm:
      shm_unlink(name);
      break;
    case NameSpace::kMq:
      mq_unlink(name);
      break;
    case NameSpace::kFile:
      unlink(name);
      break;
    case NameSpace::kDir:
      remove_private_dir(name);
      break;
  }
}

std::string g_private_dir;
std::once_flag g_private_once;

void remove_private_dir_at_exit() { remove_recorded_objects(); }

volatile sig_atomic_t g_in_handler = 0;

void kill_and_remove_everything() noexcept {
  for (auto& c : g_children) {
    const pid_t p = c.load(std::memory_order_relaxed);
    if (p > 0) kill(p, SIGKILL);
  }
  remove_recorded_objects();
}

void on_fatal_signal(int sig) {
  if (!g_in_handler) {
    g_in_handler = 1;
    kill_and_remove_everything();
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

bool pid_is_dead(pid_t pid) { return kill(pid, 0) == -1 && errno == ESRCH; }

// Linux's PID_MAX_LIMIT (4M): no pid is larger.
constexpr long kMaxPid = 4L << 20;

// glibc keeps a named POSIX semaphore "/x" as /dev/shm/sem.x.
constexpr std::string_view kSemPrefix = "sem.";

// "ipcmeter-<pid>-..." (or "sem.ipcmeter-<pid>-...") -> pid, or -1.
pid_t pid_in_name(const char* name) {
  if (std::strncmp(name, kSemPrefix.data(), kSemPrefix.size()) == 0) name += kSemPrefix.size();
  if (std::strncmp(name, kNamePrefix.data(), kNamePrefix.size()) != 0) return -1;
  const char* digits = name + kNamePrefix.size();
  if (*digits < '0' || *digits > '9') return -1;  // strtol would take a sign or spaces
  char* end = nullptr;
  errno = 0;
  const long pid = std::strtol(digits, &end, 10);
  // Out of pid_t's range would wrap, and kill(-1, 0) asks about every process.
  if (errno != 0 || *end != '-' || pid <= 0 || pid > kMaxPid) return -1;
  return pid_t(pid);
}

template <class Fn>
void for_each_named(const std::string& dir, Fn fn) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    if (pid_in_name(e->d_name) > 0) fn(std::string(e->d_name));
  }
  closedir(d);
}

}  // namespace

std::string temp_root() {
  const char* t = std::getenv("TMPDIR");
  if (t && *t == '/') {
    if (char* real = realpath(t, nullptr)) {
      std::string r = real;
      std::free(real);
      struct stat st;
      if (stat(r.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return r;
    }
  }
  return "/tmp";
}

std::string untrusted_dir_reason(const std::string& dir) {
  const uid_t me = geteuid();
  // From the root down: whoever may rename a directory on the way may swap everything below.
  // "/" first, then each longer prefix ending before a '/', then `dir` itself.
  std::size_t next = 0;
  for (;;) {
    const std::string path = next == 0 ? std::string("/") : dir.substr(0, next);
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) return sys_error("lstat " + path);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    if (S_ISLNK(st.st_mode))
      return path + " is a symlink, which whoever owns its directory can point elsewhere";
    if (!S_ISDIR(st.st_mode)) return path + " is not a directory";
    if (st.st_uid != 0 && st.st_uid != me)
      return path + " belongs to uid " + std::to_string(st.st_uid) + ", another user, who could swap what is in it";
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
      return path + " (mode " + mode +
             ") is writable by other users and not sticky: they could rename what ipcmeter puts there and "
             "put their own in its place";
    if (next >= dir.size()) return "";
    next = dir.find('/', next + 1);
    if (next == std::string::npos) next = dir.size();
  }
}

std::string unique_name(std::string_view what) {
  std::uint64_t r = 0;
  IPCM_CHECK(getrandom(&r, sizeof r, 0) == sizeof r);
  char buf[kMaxNameLen];
  std::snprintf(buf, sizeof buf, "%.*s%d-%016llx-%.*s", int(kNamePrefix.size()), kNamePrefix.data(),
                int(getpid()), (unsigned long long)r, int(what.size()), what.data());
  return buf;
}

void record_object(NameSpace ns, const std::string& name) {
  IPCM_CHECK(name.size() < kMaxNameLen);
  for (auto& e : g_objects) {
    int expected = 0;
    if (e.state.compare_exchange_strong(expected, 1)) {
      e.ns = ns;
      std::memcpy(e.name, name.c_str(), name.size() + 1);
      e.state.store(2, std::memory_order_release);
      return;
    }
  }
  IPCM_CHECK(!"more named objects alive at once than kMaxRecorded");
}

void forget_object(NameSpace ns, const std::string& name) {
  for (auto& e : g_objects) {
    if (e.state.load(std::memory_order_acquire) == 2 && e.ns == ns && name == e.name) {
      e.state.store(0, std::memory_order_release);
      return;
    }
  }
}

void remove_recorded_objects() noexcept {
  for (auto& e : g_objects) {
    if (e.state.load(std::memory_order_acquire) == 2) remove_one(e.ns, e.name);
  }
}

void record_child(pid_t pid) {
  for (auto& c : g_children) {
    pid_t expected = 0;
    if (c.compare_exchange_strong(expected, pid)) return;
  }
  IPCM_CHECK(!"more children alive at once than kMaxChildren");
}

void forget_child(pid_t pid) {
  for (auto& c : g_children) {
    pid_t expected = pid;
    if (c.compare_exchange_strong(expected, 0)) return;
  }
}

const std::string* try_private_dir(std::string& why) {
  static std::string error;
  std::call_once(g_private_once, [] {
    const std::string root = temp_root();
    if (std::string no = untrusted_dir_reason(root); !no.empty()) {
      error = "no safe place for ipcmeter's private directory in " + root + ": " + no +
              " (set TMPDIR to a directory only you and root can write, or one with the sticky bit like /tmp)";
      return;
    }
    const std::string path = root + "/" + unique_name("fifos");
    // mkdir fails if anything (a directory, a symlink planted by someone) has the name.
    if (mkdir(path.c_str(), 0700) != 0) {
      error = sys_error("mkdir " + path);
      return;
    }
    record_object(NameSpace::kDir, path);
    std::atexit(remove_private_dir_at_exit);
    // The umask can only take bits away from 0700; fchmod makes it exactly 0700, so a umask
    // such as 0277 cannot leave ipcmeter unable to use its own directory.
    const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_uid != geteuid() || fchmod(fd, 0700) != 0) {
      error = sys_error("open/fchmod " + path);
      if (fd >= 0) close(fd);
      return;
    }
    close(fd);
    g_private_dir = path;
  });
  if (g_private_dir.empty()) {
    why = error;
    return nullptr;
  }
  return &g_private_dir;
}

const std::string& private_dir() {
  std::string why;
  const std::string* d = try_private_dir(why);
  if (d == nullptr) abandon_run(why.c_str());
  return *d;
}

std::vector<std::string> sweep_stale_objects() {
  std::vector<std::string> removed;
  const uid_t me = geteuid();
  auto sweep_dir = [&](const std::string& dir, NameSpace ns) {
    for_each_named(dir, [&](const std::string& name) {
      const std::string path = dir + "/" + name;
      struct stat st;
      // lstat: the entry itself, never what a symlink at the name points to. The owner is the
      // file's, so a name copying our pattern but owned by someone else is left alone.
      if (lstat(path.c_str(), &st) != 0 || st.st_uid != me) return;
      const bool right_type = ns == NameSpace::kDir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
      if (!right_type) return;
      if (!pid_is_dead(pid_in_name(name.c_str()))) return;
      if (ns == NameSpace::kMq) {
        remove_one(ns, ("/" + name).c_str());
      } else if (ns == NameSpace::kShm) {
        remove_one(ns, name.c_str());
      } else {
        remove_one(ns, path.c_str());
      }
      removed.push_back(path);
    });
  };
  // /dev/shm and /dev/mqueue are sticky, so nobody else can swap an entry between the lstat
  // and the removal; a temp directory others could rename in is not swept at all.
  sweep_dir(kShmDir, NameSpace::kShm);
  sweep_dir(kMqDir, NameSpace::kMq);
  const std::string root = temp_root();
  if (untrusted_dir_reason(root).empty()) sweep_dir(root, NameSpace::kDir);
  return removed;
}

std::vector<std::string> live_objects_of(pid_t pid) {
  std::vector<std::string> found;
  for (const std::string& dir : {std::string(kShmDir), std::string(kMqDir), temp_root()}) {
    for_each_named(dir, [&](const std::string& name) {
      if (pid_in_name(name.c_str()) == pid) found.push_back(dir + "/" + name);
    });
  }
  return found;
}

void abandon_run(const char* why) noexcept {
  std::fprintf(stderr, "ipcmeter: %s; the run cannot go on\n", why);
  kill_and_remove_everything();
  _exit(1);
}

void install_cleanup_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

}  // namespace ipcm
