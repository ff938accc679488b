// What the spawn, compute and pool families need around their workers besides starting them
// (harness/launch/launcher.h does that): the CPU set workers may use, and the test that makes fork
// safe (no other thread of ours alive to hold a lock the child would inherit).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/launch/launcher.h"

namespace ipcm {

// Threads alive in this process now (entries of /proc/self/task).
int thread_count();
// "" when this process may fork (it is single-threaded), else the sentence why not.
std::string fork_unsafe_reason();

// Sets the calling thread's CPU mask for a scope and restores it after: threads, TBB workers
// and children started inside inherit the mask. ipcmeter pins its main thread to one CPU for
// the transfer families; workers must be free to use every allowed CPU.
class ScopedAffinity {
 public:
  explicit ScopedAffinity(const std::vector<int>& cpus);
  ~ScopedAffinity();
  ScopedAffinity(const ScopedAffinity&) = delete;
  ScopedAffinity& operator=(const ScopedAffinity&) = delete;

 private:
  std::vector<int> saved_;
};

// Parses a decimal argument of a worker role; false if malformed.
bool parse_u64(const char* s, std::uint64_t& out);

}  // namespace ipcm
