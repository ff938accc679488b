// Process-shared futex wait/wake on a 32-bit word (the word may live in shared memory).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace ipcm {

// Sleeps while *word == expected; returns 0 when woken, or -1 with errno (EAGAIN: the word
// had already changed; EINTR: a signal, such as the watchdog's).
inline int futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected) noexcept {
  return int(syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, nullptr, nullptr, 0));
}

inline void futex_wake(std::atomic<std::uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
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
