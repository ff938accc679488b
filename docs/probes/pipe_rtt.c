/* An independent check of ipcmeter's pingpong pipe fork 64 B row: a parent and a forked child,
 * each pinned to its own CPU (the first two the process may use), send 64 B back and forth
 * over two pipes; prints the p50 round trip (CLOCK_MONOTONIC) of each of N windows of S
 * seconds, after 1000 unmeasured round trips. Shares no code with ipcmeter.
 *
 * --waker MS adds what ipcmeter's peer watchdog did until 2026-12-05: a thread of the parent,
 * pinned to the child's CPU, that sleeps MS ms at a time and does nothing else.
 *
 *   gcc -O2 -pthread docs/probes/pipe_rtt.c -o /tmp/pipe_rtt
 *   /tmp/pipe_rtt [--waker MS] [WINDOWS [SECONDS]]      (default 8 windows of 0.1 s) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

enum { kBytes = 64, kMaxTrips = 4000000 };
static int cpu_a = -1, cpu_b = -1;
static long waker_ms = 0;

static void die(const char *what) { perror(what); exit(1); }
static void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  if (sched_setaffinity(0, sizeof s, &s) != 0) die("sched_setaffinity");
}
static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}
static int by_value(const void *a, const void *b) { return (*(const double *)a > *(const double *)b) - (*(const double *)a < *(const double *)b); }
/* All n bytes, or exit: a pipe may split a transfer. Returns 0 at end of file before any byte. */
static int all(int fd, char *p, int n, int writing) {
  for (int done = 0; done < n;) {
    ssize_t r = writing ? write(fd, p + done, n - done) : read(fd, p + done, n - done);
    if (r == 0 && !writing && done == 0) return 0;
    if (r <= 0) die(writing ? "write" : "read");
    done += (int)r;
  }
  return 1;
}
static void *waker(void *unused) {
  (void)unused;
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu_b, &s);
  pthread_setaffinity_np(pthread_self(), sizeof s, &s);
  struct timespec t = {waker_ms / 1000, (waker_ms % 1000) * 1000000L};
  for (;;) nanosleep(&t, NULL);
  return NULL;
}

int main(int argc, char **argv) {
  int a = 1;
  if (a + 1 < argc && strcmp(argv[a], "--waker") == 0) { waker_ms = atol(argv[a + 1]); a += 2; }
  const int windows = a < argc ? atoi(argv[a]) : 8;
  const double seconds = a + 1 < argc ? atof(argv[a + 1]) : 0.1;
  if (windows < 1 || !(seconds > 0) || waker_ms < 0) { fprintf(stderr, "usage: %s [--waker MS] [WINDOWS [SECONDS]]\n", argv[0]); return 2; }
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) die("sched_getaffinity");
  for (int c = 0; c < CPU_SETSIZE && cpu_b < 0; ++c)
    if (CPU_ISSET(c, &allowed)) { if (cpu_a < 0) cpu_a = c; else cpu_b = c; }
  if (cpu_b < 0) { fprintf(stderr, "pipe_rtt: needs two CPUs\n"); return 2; }

  int down[2], up[2];
  char msg[kBytes];
  memset(msg, 0x5a, sizeof msg);
  if (pipe(down) != 0 || pipe(up) != 0) die("pipe");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    pin(cpu_b);
    close(down[1]);
    close(up[0]);
    while (all(down[0], msg, kBytes, 0)) all(up[1], msg, kBytes, 1);
    _exit(0);
  }
  pin(cpu_a);
  close(down[0]);
  close(up[1]);
  pthread_t t;
  if (waker_ms > 0 && pthread_create(&t, NULL, waker, NULL) != 0) die("pthread_create");
  double *trip = malloc(sizeof(double) * kMaxTrips);
  if (!trip) die("malloc");
  for (int i = 0; i < 1000; ++i) { all(down[1], msg, kBytes, 1); all(up[0], msg, kBytes, 0); }
  for (int w = 0; w < windows; ++w) {
    int n = 0;
    const double end = now_ns() + seconds * 1e9;
    double t0;
    do {
      t0 = now_ns();
      all(down[1], msg, kBytes, 1);
      all(up[0], msg, kBytes, 0);
      trip[n++] = now_ns() - t0;
    } while (t0 < end && n < kMaxTrips);
    qsort(trip, n, sizeof *trip, by_value);
    printf("%.0f %d\n", trip[n / 2], n);
    fflush(stdout);
  }
  close(down[1]);
  if (waitpid(child, NULL, 0) != child) die("waitpid");
  _exit(0); /* the waker never returns; exit without joining it */
}
