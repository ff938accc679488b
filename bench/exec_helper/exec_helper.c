/* The exec target of spawn/method:vfork, posix_spawn and fork_exec: everything a started
 * worker must do to be "ready" — write one byte on the descriptor it inherited — and no more.
 * Statically linked, with no C++ runtime to start, so those rows time the start mechanism
 * rather than the loading of ipcmeter's own image (the *_self rows time that).
 *
 * usage: ipcmeter_exec_helper FD */
#include <stdlib.h>
#include <unistd.h>

#include "harness/launch/exec_helper.h"

int main(int argc, char** argv) {
  if (argc != 2) return IPCM_HELPER_USAGE;
  char* end = NULL;
  const long fd = strtol(argv[1], &end, 10);
  if (end == argv[1] || *end != '\0' || fd < 0 || fd > 1 << 20) return IPCM_HELPER_USAGE;
  const char ready = IPCM_READY_BYTE;
  return write((int)fd, &ready, 1) == 1 ? IPCM_HELPER_OK : IPCM_HELPER_WRITE_FAILED;
}
