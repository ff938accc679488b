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
    case NameSpace::kDir: {
      // Only FIFOs live in a private directory; remove its entries, then the directory.
      if (DIR* d = opendir(name)) {
        const int dfd = dirfd(d);
        while (dirent* e = readdir(d)) {
          if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
            unlinkat(dfd, e->d_name, 0);
        }
        closedir(d);
      }
      rmdir(name);
      break;
    }
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

// glibc keeps a named POSIX semaphore "/x" as /dev/shm/sem.x.
constexpr std::string_view kSemPrefix = "sem.";

// "ipcmeter-<pid>-..." (or "sem.ipcmeter-<pid>-...") -> pid, or -1.
pid_t pid_in_name(const char* name) {
  if (std::strncmp(name, kSemPrefix.data(), kSemPrefix.size()) == 0) name += kSemPrefix.size();
  if (std::strncmp(name, kNamePrefix.data(), kNamePrefix.size()) != 0) return -1;
  char* end = nullptr;
  const long pid = std::strtol(name + kNamePrefix.size(), &end, 10);
  if (end == name + kNamePrefix.size() || *end != '-' || pid <= 0) return -1;
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
  return (t && *t == '/') ? std::string(t) : std::string("/tmp");
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

const std::string& private_dir() {
  std::call_once(g_private_once, [] {
    const std::string path = temp_root() + "/" + unique_name("fifos");
    // mkdir fails if anything (a directory, a symlink planted by someone) has the name.
    IPCM_CHECK(mkdir(path.c_str(), 0700) == 0);
    record_object(NameSpace::kDir, path);
    g_private_dir = path;
    std::atexit(remove_private_dir_at_exit);
  });
  return g_private_dir;
}

std::vector<std::string> sweep_stale_objects() {
  std::vector<std::string> removed;
  const uid_t me = geteuid();
  auto sweep_dir = [&](const std::string& dir, NameSpace ns, bool want_dir) {
    for_each_named(dir, [&](const std::string& name) {
      const std::string path = dir + "/" + name;
      struct stat st;
      if (lstat(path.c_str(), &st) != 0 || st.st_uid != me) return;
      if (want_dir != S_ISDIR(st.st_mode)) return;
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
  sweep_dir(kShmDir, NameSpace::kShm, false);
  sweep_dir(kMqDir, NameSpace::kMq, false);
  sweep_dir(temp_root(), NameSpace::kDir, true);
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
