// An independent check of ipcmeter's shm_ring round trip and its core-to-core floor: two
// rigtorp-style SPSC rings (cached indices, one writer per index), 64-byte messages, one
// thread per CPU, every round trip timed on its own with clock_gettime. Shares no code with
// ipcmeter. Mode "index" signals through the write index as rigtorp/SPSCQueue does (two
// lines move per hop: the index, then the slot); mode "stamped" puts a sequence stamp in the
// slot itself and the reader polls it (one line per hop, as ipcmeter's ring does).
// Build and run (CPUs as ipcmeter pins them: parent 0, peer 1):
//   g++ -O2 -std=c++20 -pthread docs/probes/spsc_rtt.cpp -o /tmp/spsc_rtt
//   /tmp/spsc_rtt 0 1 200000 index; /tmp/spsc_rtt 0 1 200000 stamped
#include <pthread.h>
#include <time.h>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

struct Msg { std::uint64_t seq; char pad[48]; };
struct alignas(64) Slot { std::atomic<std::uint64_t> stamp{0}; Msg m; };
static bool g_stamped = false;
struct Ring {  // rigtorp/SPSCQueue's layout: each index and its cached copy on its own line
  static constexpr std::size_t N = 64;
  alignas(64) std::atomic<std::size_t> write{0};
  alignas(64) std::size_t read_cache = 0;
  alignas(64) std::atomic<std::size_t> read{0};
  alignas(64) std::size_t write_cache = 0;
  alignas(64) Slot slots[N];
  alignas(64) std::size_t w_local = 0;  // the producer's own count
  alignas(64) std::size_t r_local = 0;  // the consumer's own count
  void push(const Msg& m) {
    const std::size_t w = w_local++;
    while (w - read_cache == N) read_cache = read.load(std::memory_order_acquire), __builtin_ia32_pause();
    slots[w % N].m = m;
    if (g_stamped) slots[w % N].stamp.store(w + 1, std::memory_order_release);
    else write.store(w + 1, std::memory_order_release);
  }
  Msg pop() {
    const std::size_t r = r_local++;
    if (g_stamped) while (slots[r % N].stamp.load(std::memory_order_acquire) != r + 1) __builtin_ia32_pause();
    else while (r == write_cache) write_cache = write.load(std::memory_order_acquire), __builtin_ia32_pause();
    Msg m = slots[r % N].m;
    read.store(r + 1, std::memory_order_release);
    return m;
  }
};

static void pin(int cpu) {
  cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s);
  if (pthread_setaffinity_np(pthread_self(), sizeof s, &s) != 0) { perror("pin"); std::exit(1); }
}
static std::uint64_t now_ns() { timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000ull + t.tv_nsec; }

int main(int argc, char** argv) {
  const int a = argc > 1 ? std::atoi(argv[1]) : 0, b = argc > 2 ? std::atoi(argv[2]) : 1;
  const int trips = argc > 3 ? std::atoi(argv[3]) : 200000, warmup = 10000;
  g_stamped = argc > 4 && std::strcmp(argv[4], "stamped") == 0;
  static Ring ping, pong;
  std::thread echo([&] {
    pin(b);
    for (int i = 0; i < warmup + trips; ++i) pong.push(ping.pop());
  });
  pin(a);
  std::vector<std::uint64_t> ns(trips);
  Msg m{}; std::memset(m.pad, 0x5a, sizeof m.pad);
  for (int i = 0; i < warmup + trips; ++i) {
    m.seq = i;
    const std::uint64_t t0 = now_ns();
    ping.push(m);
    const Msg r = pong.pop();
    const std::uint64_t t1 = now_ns();
    if (r.seq != std::uint64_t(i)) { std::fprintf(stderr, "out of order at %d\n", i); return 1; }
    if (i >= warmup) ns[i - warmup] = t1 - t0;
  }
  echo.join();
  std::sort(ns.begin(), ns.end());
  std::printf("spsc_rtt %s cpus %d,%d trips %d: p50 %llu ns p99 %llu ns\n", g_stamped ? "stamped" : "index", a, b, trips,
              (unsigned long long)ns[ns.size() / 2], (unsigned long long)ns[ns.size() * 99 / 100]);
}
