// Tier one of error handling: a broken invariant of ipcmeter itself aborts with file:line.
// Problems of the environment (a call the system refuses, a peer that dies) are not checks:
// they travel as Status and end one benchmark with SkipWithError.
#pragma once

#include <cstdio>
#include <cstdlib>

#define IPCM_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "%s:%d: ipcmeter invariant failed: %s\n", __FILE__,   \
                   __LINE__, #cond);                                              \
      std::abort();                                                               \
    }                                                                             \
  } while (0)
