#include "harness/launch/workers.h"

#include <dirent.h>
#include <sched.h>

#include <cerrno>
#include <cstdlib>

#include "harness/core/env.h"

namespace ipcm {

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
