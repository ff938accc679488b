/* What the spawn family's exec helper (bench/exec_helper) and its parent (bench/spawn/spawn.cpp)
 * agree on. Plain C: the helper is a C program, so that exec-ing it costs the kernel's exec
 * and a static C start-up, not loading a C++ image. */
#ifndef IPCM_EXEC_HELPER_H
#define IPCM_EXEC_HELPER_H

/* The byte a started worker writes to say it is running. */
#define IPCM_READY_BYTE 'r'

/* The helper's exit statuses (argv: the helper's path, the descriptor to write to). */
#define IPCM_HELPER_OK 0
#define IPCM_HELPER_USAGE 2
#define IPCM_HELPER_WRITE_FAILED 3

#endif
