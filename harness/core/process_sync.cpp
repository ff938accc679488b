#include "harness/core/process_sync.h"

#include <fcntl.h>

#include <cerrno>

#include "harness/core/names.h"
#include "harness/core/status.h"

namespace ipcm {

int RobustMutex::init(bool recursive) noexcept {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  if (recursive) pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  const int rc = pthread_mutex_init(&m, &a);
  pthread_mutexattr_destroy(&a);
  return rc;
}

RobustMutex::Locked RobustMutex::lock() noexcept {
  const int rc = pthread_mutex_lock(&m);
  if (rc == 0) return Locked::kAcquired;
  if (rc == EOWNERDEAD) {
    // The holder died inside its critical section: the data it guarded may be half-updated;
    // the protocols here keep nothing half-updated across a release, so it is consistent.
    pthread_mutex_consistent(&m);
    return Locked::kRecovered;
  }
  return Locked::kFailed;
}

NamedSems::~NamedSems() {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    sem_close(handles_[i]);
    sem_unlink(names_[i].c_str());
    forget_object(NameSpace::kFile, file_of(names_[i]));
  }
}

std::string NamedSems::create(const std::string& name, unsigned initial) {
  sem_t* s = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, initial);
  if (s == SEM_FAILED) return sys_error("sem_open " + name);
  record_object(NameSpace::kFile, file_of(name));
  names_.push_back(name);
  handles_.push_back(s);
  return "";
}

// glibc keeps named semaphores as /dev/shm/sem.<name>: unlinking that file is sem_unlink, and
// the signal handler can do it.
std::string NamedSems::file_of(const std::string& name) { return "/dev/shm/sem." + name.substr(1); }

}  // namespace ipcm
