/* An independent check of ipcmeter's spawn rows: posix_spawn of a tiny program, waited for,
 * N times; prints the p50 of spawn -> reaped. Shares no code with ipcmeter.
 *   gcc -O2 docs/probes/spawn_true.c -o /tmp/spawn_true && /tmp/spawn_true /bin/true 2000 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
extern char **environ;
static int cmp(const void *a, const void *b) { return (*(const double *)a > *(const double *)b) - (*(const double *)a < *(const double *)b); }
int main(int argc, char **argv) {
  const char *prog = argc > 1 ? argv[1] : "/bin/true";
  int n = argc > 2 ? atoi(argv[2]) : 2000;
  double *us = malloc(sizeof(double) * n);
  char *args[] = {(char *)prog, NULL};
  for (int i = 0; i < n; ++i) {
    struct timespec t0, t1;
    pid_t pid;
    int status;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (posix_spawn(&pid, prog, NULL, NULL, args, environ) != 0 || waitpid(pid, &status, 0) != pid) return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    us[i] = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
  }
  qsort(us, n, sizeof *us, cmp);
  printf("posix_spawn %s: p50 %.1f us, p99 %.1f us over %d\n", prog, us[n / 2], us[n * 99 / 100], n);
  return 0;
}
