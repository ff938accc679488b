/* How well two ways of timing the busy loop's rate survive a CPU that is shared.
 *
 * ipcmeter's --calibration_delay_ns turns ns into iterations of a loop with no clock reads,
 * at a rate timed once. Until 2026-12-05 the rate was the fastest of 3 runs of 10 million
 * iterations; now it is the fastest of 32 runs of 1 million. For each trial this probe times
 * the rate both ways, asks the loop for a 5 ms delay at each rate with the CPU to itself,
 * and prints how long the delay lasted as a share of 5 ms (1.0 = exact; under 1.0 = the rate
 * was timed too slow). With --shared, a second thread spins on the same CPU while the rates
 * are timed, as a preempting process or a host stealing the vCPU would. Shares no code with
 * ipcmeter; the loop is the same three instructions.
 *
 *   gcc -O2 -pthread docs/probes/busy_rate.c -o /tmp/busy_rate
 *   /tmp/busy_rate [--shared] [TRIALS]      (default 10 trials) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int stop_spinner;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void busy_loop(uint64_t iterations) {
  for (uint64_t i = 0; i < iterations; ++i) __asm__ volatile("" : "+r"(i));
}

static double fastest_rate(int runs, uint64_t iterations) {
  double best = 0;
  for (int r = 0; r < runs; ++r) {
    const uint64_t t0 = mono_ns();
    busy_loop(iterations);
    const uint64_t ns = mono_ns() - t0;
    if (ns > 0 && (double)iterations / (double)ns > best) best = (double)iterations / (double)ns;
  }
  return best;
}

static void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  if (sched_setaffinity(0, sizeof s, &s) != 0) {
    perror("sched_setaffinity");
    exit(1);
  }
}

static int cpu;
static void *spin(void *unused) {
  (void)unused;
  pin(cpu);
  while (!atomic_load_explicit(&stop_spinner, memory_order_relaxed)) {
  }
  return NULL;
}

static double delay_share(double rate) {
  const double asked_ns = 5e6;
  const uint64_t t0 = mono_ns();
  busy_loop((uint64_t)(asked_ns * rate + 0.5));
  return (double)(mono_ns() - t0) / asked_ns;
}

int main(int argc, char **argv) {
  int shared = 0, trials = 10;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--shared") == 0) shared = 1;
    else if ((trials = atoi(argv[i])) <= 0) {
      fprintf(stderr, "busy_rate: TRIALS must be a positive count, not '%s'\n", argv[i]);
      return 2;
    }
  }
  cpu = sched_getcpu();
  pin(cpu);
  printf("cpu %d, %s\n", cpu, shared ? "a spinning thread shares it while rates are timed" : "CPU to itself");
  printf("trial  old_rate  new_rate  old_delay_share  new_delay_share\n");
  for (int t = 1; t <= trials; ++t) {
    pthread_t spinner;
    if (shared) {
      atomic_store(&stop_spinner, 0);
      if (pthread_create(&spinner, NULL, spin, NULL) != 0) {
        perror("pthread_create");
        return 1;
      }
    }
    /* Alternate which way goes first so neither always meets the spinner's first slice. */
    double old_rate, new_rate;
    if (t % 2) {
      old_rate = fastest_rate(3, 10000000);
      new_rate = fastest_rate(32, 1000000);
    } else {
      new_rate = fastest_rate(32, 1000000);
      old_rate = fastest_rate(3, 10000000);
    }
    if (shared) {
      atomic_store(&stop_spinner, 1);
      pthread_join(spinner, NULL);
    }
    const double old_share = delay_share(old_rate);
    const double new_share = delay_share(new_rate);
    printf("%5d  %8.3f  %8.3f  %15.3f  %15.3f\n", t, old_rate, new_rate, old_share, new_share);
  }
  return 0;
}
