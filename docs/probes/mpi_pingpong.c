/* External check for ipcmeter's mpi rows: a plain MPI_Send/MPI_Recv ping-pong, outside ipcmeter.
 * Build:  mpicc -O2 docs/probes/mpi_pingpong.c -o /tmp/mpi_pingpong
 * Run (as root in a container add OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 in front):
 *   shared-memory path: mpirun -np 2 --bind-to core --mca pml ob1 --mca btl self,vader /tmp/mpi_pingpong
 *     (in a container without ptrace rights add --mca btl_vader_single_copy_mechanism none: vader's
 *      CMA single copy hangs there on 64 KiB; ipcmeter's scripts launch with the same setting)
 *   TCP path:           mpirun -np 2 --bind-to core --mca pml ob1 --mca btl self,tcp   /tmp/mpi_pingpong
 * Prints p50/p99 of individually timed round trips (clock_gettime) at 64 B and 64 KiB. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { WARMUP = 1000, TRIPS = 20000 };

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}
static int by_value(const void* a, const void* b) {
  long long x = *(const long long*)a, y = *(const long long*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  int rank, sizes[] = {64, 65536};
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  char* buf = calloc(65536, 1);
  long long* rtt = malloc(sizeof(long long) * TRIPS);
  for (int s = 0; s < 2; ++s) {
    for (int i = 0; i < WARMUP + TRIPS; ++i) {
      if (rank == 0) {
        long long t0 = now_ns();
        MPI_Send(buf, sizes[s], MPI_BYTE, 1, 0, MPI_COMM_WORLD);
        MPI_Recv(buf, sizes[s], MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (i >= WARMUP) rtt[i - WARMUP] = now_ns() - t0;
      } else {
        MPI_Recv(buf, sizes[s], MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(buf, sizes[s], MPI_BYTE, 0, 0, MPI_COMM_WORLD);
      }
    }
    if (rank == 0) {
      qsort(rtt, TRIPS, sizeof *rtt, by_value);
      printf("size %6d B: rtt p50 %lld ns, p99 %lld ns (%d trips)\n", sizes[s], rtt[TRIPS / 2], rtt[TRIPS * 99 / 100], TRIPS);
    }
  }
  free(buf);
  free(rtt);
  MPI_Finalize();
  return 0;
}
