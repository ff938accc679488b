// An independent check of ipcmeter's pingpong/transport:zmq_ipc rows: a forked child echoes
// over ZeroMQ PAIR sockets on ipc://, N timed round trips after a warm-up, at 64 B and 64 KiB;
// prints p50/p99 in ns. Shares no code with ipcmeter (libzmq's C API only).
//   g++ -O2 docs/probes/zmq_rtt.cpp -lzmq -o /tmp/zmq_rtt && /tmp/zmq_rtt 20000 [read] [cpus=P,C]
// Compare with pingpong/transport:zmq_ipc/peer:fork/size:{64,65536}/wait:block (both block in
// zmq_msg_recv; the child makes its own context after the fork, as ZeroMQ requires).
// cpus=P,C pins the parent to CPU P and the echo to CPU C before either makes its context, as
// ipcmeter pins its parent and peer (ipcmeter.placement in the results): ZeroMQ's I/O thread is
// started by the context and inherits that CPU, so the placement decides how many wake-ups of a
// round trip cross CPUs. Without it the scheduler places all four threads.
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

// With "read" as the second argument both sides read every byte of what they receive before
// going on (the echo before it answers, the sender inside the timed interval), as ipcmeter's
// rows do when they check a message and read the reply; without it the bytes are forwarded unread.
static bool g_read = false;
static void read_all(const void* p, size_t n) {
  if (!g_read) return;
  const unsigned char* b = static_cast<const unsigned char*>(p);
  unsigned long long acc = 0;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    unsigned long long w;
    __builtin_memcpy(&w, b + i, 8);
    acc ^= w;
  }
  asm volatile("" : : "r"(acc));  // the fold is used, so the reads stay
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("sched_setaffinity"), std::exit(1);
}

// hwm=N and timeo=MS set both high-water marks and both timeouts on each socket (ZeroMQ's
// defaults without them: 1000 messages, no timeout).
static void set_options(void* s, int hwm, int timeo) {
  if (hwm >= 0) zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm), zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
  if (timeo >= 0) zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeo, sizeof timeo), zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeo, sizeof timeo);
}

static long long now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000, warmup = 1000;
  int parent_cpu = -1, child_cpu = -1, hwm = -1, timeo = -1;
  for (int a = 2; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "read") g_read = true;
    else if (arg.rfind("cpus=", 0) == 0 && std::sscanf(arg.c_str() + 5, "%d,%d", &parent_cpu, &child_cpu) == 2) continue;
    else if (std::sscanf(arg.c_str(), "hwm=%d", &hwm) == 1 || std::sscanf(arg.c_str(), "timeo=%d", &timeo) == 1) continue;
    else return std::fprintf(stderr, "zmq_rtt: unknown argument %s (read, cpus=P,C, hwm=N, timeo=MS)\n", arg.c_str()), 2;
  }
  for (size_t size : {size_t(64), size_t(64) << 10}) {
    const std::string ep = "ipc:///tmp/zmq_rtt-" + std::to_string(getpid()) + "-" + std::to_string(size);
    const pid_t child = fork();
    if (child == 0) {  // echo: connect, send back whatever arrives, n + warmup times
      pin(child_cpu);
      void* ctx = zmq_ctx_new();
      void* s = zmq_socket(ctx, ZMQ_PAIR);
      set_options(s, hwm, timeo);
      zmq_connect(s, ep.c_str());
      zmq_msg_t m;
      zmq_msg_init(&m);
      for (int i = 0; i < n + warmup; ++i) {
        if (zmq_msg_recv(&m, s, 0) < 0) _exit(1);
        read_all(zmq_msg_data(&m), zmq_msg_size(&m));
        if (zmq_send(s, zmq_msg_data(&m), zmq_msg_size(&m), 0) < 0) _exit(1);
      }
      zmq_msg_close(&m);
      zmq_close(s);
      zmq_ctx_term(ctx);
      _exit(0);
    }
    pin(parent_cpu);
    void* ctx = zmq_ctx_new();
    void* s = zmq_socket(ctx, ZMQ_PAIR);
    set_options(s, hwm, timeo);
    if (zmq_bind(s, ep.c_str()) != 0) return std::perror("zmq_bind"), 1;
    std::vector<char> buf(size, 'x');
    std::vector<long long> rtt;
    rtt.reserve(n);
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (int i = 0; i < n + warmup; ++i) {
      const long long t0 = now_ns();
      zmq_send(s, buf.data(), size, 0);
      if (zmq_msg_recv(&m, s, 0) != int(size)) return std::fprintf(stderr, "short reply\n"), 1;
      read_all(zmq_msg_data(&m), size);
      if (i >= warmup) rtt.push_back(now_ns() - t0);
    }
    zmq_msg_close(&m);
    int status = 0;
    waitpid(child, &status, 0);
    zmq_close(s);
    zmq_ctx_term(ctx);
    unlink(ep.c_str() + 6);  // libzmq leaves the socket file behind
    std::sort(rtt.begin(), rtt.end());
    if (parent_cpu >= 0) std::printf("[parent on CPU %d, echo on CPU %d] ", parent_cpu, child_cpu);
    if (hwm >= 0 || timeo >= 0) std::printf("[hwm %d, timeouts %d ms] ", hwm, timeo);
    std::printf("zmq_ipc fork size %zu%s: p50 %lld ns  p99 %lld ns  (%d round trips)\n", size,
                g_read ? " (both sides read every byte)" : "", rtt[rtt.size() / 2], rtt[rtt.size() * 99 / 100], n);
  }
  return 0;
}
