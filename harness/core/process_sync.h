// The process-shared building blocks of the sync and state families: a robust mutex that
// survives its holder's death, and named POSIX semaphores that are removed on every path.
#pragma once

#include <pthread.h>
#include <semaphore.h>

#include <string>
#include <vector>

#include "harness/launch/party.h"

namespace ipcm {

// A process-shared robust pthread mutex: when its holder dies, the next locker gets
// EOWNERDEAD, marks it consistent and carries on, where any other lock would wait forever.
struct RobustMutex {
  pthread_mutex_t m;
  enum class Locked { kAcquired, kRecovered, kFailed };
  // Returns 0 or an errno.
  int init(bool recursive) noexcept;
  Locked lock() noexcept;
  void unlock() noexcept { pthread_mutex_unlock(&m); }
  void destroy() noexcept { pthread_mutex_destroy(&m); }
};

// Named POSIX semaphores for a process bounded_semaphore: created by the parent (O_EXCL, 0600),
// removed when this goes out of scope on every path.
class NamedSems {
 public:
  NamedSems() = default;
  NamedSems(const NamedSems&) = delete;
  NamedSems& operator=(const NamedSems&) = delete;
  ~NamedSems();
  // "" or why the semaphore could not be made.
  std::string create(const std::string& name, unsigned initial);

 private:
  static std::string file_of(const std::string& name);
  std::vector<std::string> names_;
  std::vector<sem_t*> handles_;
};

// A process party's handles on the named semaphores.
struct OpenedSems {
  sem_t* s[kMaxParties]{};
  int n = 0;
  ~OpenedSems() {
    for (int i = 0; i < n; ++i) sem_close(s[i]);
  }
};

}  // namespace ipcm
