/* External check for ipcmeter's mpi rows: a plain MPI_Send/MPI_Recv ping-pong, outside ipcmeter.
 * Build:  mpicc -O2 docs/probes/mpi_pingpong.c -o /tmp/mpi_pingpong
 * Run (as root in a container add OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 in front):
 *   shared-memory path: mpirun -np 2 --bind-to core --mca pml ob1 --mca btl self,vader /tmp/mpi_pingpong
 *     (in a container without ptrace rights add --mca btl_vader_single_copy_mechanism none: vader's
 *      CMA single copy hangs there on 64 KiB; ipcmeter's scripts launch with the same setting)
 *   TCP path:           mpirun -np 2 --bind-to core --mca pml ob1 --mca btl self,tcp   /tmp/mpi_pingpong
 * Prints p50/p99 of individually timed round trips (clock_gettime) at 64 B and 64 KiB.
 * With "read" after the program name both ranks read every byte they receive before going on
 * (rank 1 before it answers, rank 0 inside the timed interval), as ipcmeter's rows do when rank 1
 * checks a message and rank 0 reads the reply; without it the bytes are forwarded unread. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { WARMUP = 1000, TRIPS = 20000 };

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}
static int g_read;
static void read_all(const char* p, int n) {
  if (!g_read) return;
  unsigned long long acc = 0, w;
  for (int i = 0; i + 8 <= n; i += 8) {
    memcpy(&w, p + i, 8);
    acc ^= w;
  }
  __asm__ volatile("" : : "r"(acc)); /* the fold is used, so the reads stay */
}

static int by_value(const void* a, const void* b) {
  long long x = *(const long long*)a, y = *(const long long*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  int rank, sizes[] = {64, 65536};
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  g_read = argc > 1 && strcmp(argv[1], "read") == 0;
  char* buf = calloc(65536, 1);
  long long* rtt = malloc(sizeof(long long) * TRIPS);
  for (int s = 0; s < 2; ++s) {
    for (int i = 0; i < WARMUP + TRIPS; ++i) {
      if (rank == 0) {
        long long t0 = now_ns();
        MPI_Send(buf, sizes[s], MPI_BYTE, 1, 0, MPI_COMM_WORLD);
        MPI_Recv(buf, sizes[s], MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        read_all(buf, sizes[s]);
        if (i >= WARMUP) rtt[i - WARMUP] = now_ns() - t0;
      } else {
        MPI_Recv(buf, sizes[s], MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        read_all(buf, sizes[s]);
        MPI_Send(buf, sizes[s], MPI_BYTE, 0, 0, MPI_COMM_WORLD);
      }
    }
    if (rank == 0) {
      qsort(rtt, TRIPS, sizeof *rtt, by_value);
      printf("size %6d B%s: rtt p50 %lld ns, p99 %lld ns (%d trips)\n", sizes[s], g_read ? " (both ranks read every byte)" : "", rtt[TRIPS / 2], rtt[TRIPS * 99 / 100], TRIPS);
    }
  }
  free(buf);
  free(rtt);
  MPI_Finalize();
  return 0;
}
