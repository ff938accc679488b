// Process-shared futex wait/wake on a 32-bit word (the word may live in shared memory).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <ctime>
#include <cstdint>

namespace ipcm {

// Sleeps while *word == expected; returns 0 when woken, or -1 with errno (EAGAIN: the word
// had already changed; EINTR: a signal, such as the watchdog's).
inline int futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected) noexcept {
  return int(syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, nullptr, nullptr, 0));
}

// The same with a time limit: 0 when woken or the word differed, else -1 with errno
// ETIMEDOUT or EINTR.
inline int futex_wait_for(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::chrono::nanoseconds limit) noexcept {
  timespec ts;
  ts.tv_sec = time_t(limit.count() / 1'000'000'000);
  ts.tv_nsec = long(limit.count() % 1'000'000'000);
  const long r = syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
  if (r == 0 || errno == EAGAIN) return 0;
  return -1;
}

// Wakes one waiter.
inline void futex_wake(std::atomic<std::uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

// Wakes every waiter.
inline void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// The spin-loop hint: lets an SMT sibling run and saves power while spinning.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace ipcm
