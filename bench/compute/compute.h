// The compute family's kernels and the teams that run them split over N workers — threads,
// forked children or spawned copies of this binary — all attached to one shared-memory
// segment, so the three peers run the very same code on the very same memory. Workers stay
// up between rounds (a round: the parent bumps a generation word, each worker runs its
// slice, the last one done wakes the parent): a round measures the work, not the starts,
// which the spawn family measures. The task farm is the exception: there, starting the
// processes is the point.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness/launch/peer.h"
#include "harness/core/name_table.h"
#include "harness/transports/shm_segment.h"
#include "harness/core/status.h"
#include "harness/launch/workers.h"

namespace ipcm {

// cpu: a dependent chain of integer mixing per element, nothing shared; membw: sums a large
// input array (reads at memory bandwidth); shared: writes every element of a result array
// all workers share.
enum class Kernel { kCpu, kMembw, kShared };
inline constexpr auto kKernelNames =
    name_table<Kernel>({{Kernel::kCpu, "cpu"}, {Kernel::kMembw, "membw"}, {Kernel::kShared, "shared"}});
static_assert(kKernelNames.well_formed());
inline constexpr const auto& kAllKernels = kKernelNames.values();
inline const char* kernel_name(Kernel k) { return kKernelNames.name(k); }
inline std::optional<Kernel> parse_kernel(std::string_view s) { return kKernelNames.parse(s); }

// How much work one round is, per kernel.
struct KernelSize {
  std::uint64_t cpu_elements = 1 << 16;
  std::uint32_t cpu_rounds = 64;
  std::uint64_t membw_bytes = 32u << 20;
  std::uint32_t membw_passes = 2;
  std::uint64_t shared_elements = 1 << 19;
  std::uint32_t shared_rounds = 8;
};

// The median of `v` (the mean of the middle two for an even count); 0 for none.
double median_of(std::vector<double> v);

// Sizing membw so that it streams from DRAM: the array is at least kLlcMultiple times the
// last-level cache (llc_bytes() in harness/core/env.h; when sysfs does not say, as in some VMs,
// kAssumedLlcBytes stands in), and at most MemAvailable / kMembwMemDivisor.
inline constexpr std::uint64_t kLlcMultiple = 4;
inline constexpr std::uint64_t kAssumedLlcBytes = 32u << 20;
inline constexpr std::uint64_t kMembwMemDivisor = 4;
std::uint64_t membw_working_set(std::uint64_t at_least, std::optional<std::uint64_t> llc,
                                std::optional<std::uint64_t> mem_available);

// A row's speedup from pairs of neighbouring rounds: base_s[i] is the workers:1 round taken
// next to this row's round here_s[i]. The median is the median of the pairs' ratios
// base_s[i] / here_s[i]; min and max are the lowest and highest ratio, the spread of what one
// pair would have said. Pairing cancels the host's drift between rows (a workers:1 row
// measured seconds earlier once made 2 workers look 2.24x faster on 2 CPUs). Zero when the
// lengths differ or a round is not positive.
struct Speedup {
  double median = 0, min = 0, max = 0;
};
Speedup speedup_of(const std::vector<double>& base_s, const std::vector<double>& here_s);
// N workers on C CPUs can at best be min(N, C) times faster; above that by more than the
// tolerance the figure is a measurement error, not a result. "" when possible, else why not.
inline constexpr double kSuperlinearTolerance = 1.1;
std::string impossible_speedup(double speedup, unsigned workers, unsigned cpus);

// The most workers a team or a farm accepts (4x the CPUs of any machine we expect).
inline constexpr unsigned kMaxWorkers = 1024;

struct ComputeHeader;

class ComputeTeam {
 public:
  // Makes the segment, fills the input, starts the workers and waits until all attached.
  // Refused for a bad worker count, and for fork when the caller has other threads.
  static Made<ComputeTeam> start(Kernel k, PeerKind peer, unsigned workers, const KernelSize& size);
  // Stops the workers and reaps them (killing any that do not stop).
  ~ComputeTeam();
  ComputeTeam(const ComputeTeam&) = delete;
  ComputeTeam& operator=(const ComputeTeam&) = delete;

  // One round of the kernel over all workers.
  Status round(std::string& why) noexcept;
  // The same round's work done by worker 0 alone while the others only report done: the
  // workers:1 reference on the same memory and the same kind of peer, taken next to each
  // timed round so the host's drift hits both alike.
  Status serial_round(std::string& why) noexcept;
  // Clears the results, runs a round (a serial_round when `serial`), and compares them with a
  // serial run in this thread.
  Status verify(std::string& why, bool serial = false);
  // Stops the workers and reaps them; an error if any worker failed.
  Status stop(std::string& why);

 private:
  ComputeTeam() = default;
  Status run_round(unsigned active, std::string& why) noexcept;
  Status wait_for(std::atomic<std::uint32_t>& word, std::uint32_t target, std::string& why) noexcept;
  std::unique_ptr<ShmSegment> seg_;
  ComputeHeader* hdr_ = nullptr;
  // The header's layout fields as this side wrote them: verify() goes by these, never by the
  // shared copies a worker process could overwrite (a garbage offset or length would send the
  // parent's memset and reads outside the segment).
  Kernel kernel_{};
  std::uint64_t elements_ = 0, partial_off_ = 0, input_off_ = 0, output_off_ = 0;
  std::uint32_t rounds_ = 0;
  PeerKind peer_ = PeerKind::kThread;
  unsigned workers_ = 0;
  std::vector<std::thread> threads_;
  std::vector<pid_t> pids_;
  bool stopped_ = false;
};

// The task farm: `tasks` cpu-kernel tasks run by processes (fork or spawn), either one
// process per task all started at once (pool = false: the naive loop) or a pool of `workers`
// processes that take tasks until none are left. Timed from the first start to the last
// reap; the results are checked against a serial run.
struct FarmSize {
  std::uint32_t tasks = 8;
  std::uint64_t elements_per_task = 1 << 13;
  std::uint32_t rounds = 64;
};
Status run_farm(PeerKind peer, bool pool, unsigned workers, const FarmSize& size, double& seconds, std::string& why);

}  // namespace ipcm
