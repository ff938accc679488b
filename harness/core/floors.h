// The floors: what the hardware itself costs, measured at the start and the end of a run.
// A transport's round trip is judged against a bare cache-line round trip between the same
// two CPUs, its bandwidth against one core's memcpy, so a result says how far above the
// machine's own limit it is, and a floor that moved during the run says the machine changed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/core/c2c_floor.h"
#include "harness/core/env.h"
#include "harness/core/limits.h"
#include "harness/core/name_table.h"

namespace ipcm {

// Small enough to stay in L2 on anything current, large enough that call overhead is noise.
inline constexpr std::size_t kCacheProbeBytes = 64u << 10;

// The core-to-core floor between the CPUs of one `where` of the placement family; lacking says
// why there is no such pair (then the floor is empty), unpinned has no pair to probe.
struct PlacementFloor {
  Where where;
  Placement placement;
  std::string lacking;
  C2cFloor c2c;
};

// The network between this host and the host of an mpi_remote peer (rank 1 of an MPI launch
// across two hosts, harness/mpi/mpi_link.h measures it): the floor under every cross-host row,
// as the core-to-core floor is under the rows on one host. The round trip is measured as
// c2c_rtt_ns is: every trip of kNetProbeBytes timed on its own into a Histogram, p50 of the
// best of several ways to wait (blocking read, or spinning on non-blocking reads); the
// bandwidth as c2c_copy_gbps is: the median of batches, each timed from its first byte sent
// to the peer's acknowledgement of its last.
struct NetFloor {
  std::string peer_host;
  std::string local_address, peer_address;  // the connection the probes ran over
  double rtt_p50_ns = 0, rtt_p99_ns = 0, rtt_mean_ns = 0;
  std::string rtt_protocol;                   // the winning way to wait
  std::map<std::string, double> rtt_p50_ns_by_protocol;
  std::uint64_t trips = 0;                    // timed trips per protocol
  double gbps = 0;                            // 1e9 bytes/s, median batch
  std::size_t batch_bytes = 0;
  int batches = 0;
};

// Which floors a run measures (--floors=): all of them, or only the core-to-core round trip.
// A run that only witnesses where the host has put the vCPUs (scripts/ab.py's floor probes,
// hundreds of them around a CI job's runs) needs that one. With the others (the DRAM copy
// above all) and the busy check such a run took 2.2 s on the development VM, 0.34 s without.
enum class FloorScope { kAll, kC2cRtt };
inline constexpr auto kFloorScopeNames =
    name_table<FloorScope>({{FloorScope::kAll, "all"}, {FloorScope::kC2cRtt, "c2c_rtt"}});
static_assert(kFloorScopeNames.well_formed());

// A probe that could not run (pinning refused, no memory) is nullopt, serialised as null; so
// is one the scope left out.
struct Floors {
  FloorScope scope = FloorScope::kAll;
  // The core-to-core round trip (harness/core/c2c_floor.h): per-trip p50 of the best protocol.
  C2cFloor c2c;
  std::optional<double> memcpy_gbps_cache;
  std::optional<double> memcpy_gbps_dram;
  std::optional<double> syscall_ns;
  std::optional<double> timer_ns;
  // The smallest step the tick clock takes (on AMD hosts the TSC moves in steps of ~10 ns):
  // round trips are quantised to it.
  std::optional<double> timer_resolution_ns;
  // Every size memcpy_gbps() was asked for so far: the references ratio_to_memcpy used.
  std::map<std::size_t, double> memcpy_gbps_by_size;
  // The cross-core copy floor (harness/core/c2c_copy.h) at each streamed size, written by the
  // parent's CPU and read on the peer's, as a stream moves data.
  std::map<std::size_t, double> c2c_copy_gbps_by_size;
  // The core-to-core floor for every `where` (same_cpu: two context switches a trip).
  std::vector<PlacementFloor> c2c_by_placement;
  // Only in an MPI launch whose rank 1 runs on another host; its keys (net_*) are then added.
  std::optional<NetFloor> net;
};

// Every probe on the placement's CPUs, the cross-core copy at each of streamed_sizes; the
// caller's affinity is restored afterwards. Takes well under a second; the DRAM probe
// dominates. FloorScope::kC2cRtt: the core-to-core round trip alone (c2c_by_placement and
// c2c_copy_gbps_by_size stay empty, the one-thread probes null; the caller adds a network
// floor either way).
Floors measure_floors(const Placement& p, std::span<const std::size_t> streamed_sizes,
                      FloorScope scope = FloorScope::kAll);

// One core's memcpy bandwidth between two hot buffers of `bytes` each, GB/s (1e9 bytes/s).
// Measured once per size (about 5-10 ms, more for DRAM sizes) and cached, so repeated calls
// are free. NaN if the buffers cannot be allocated or bytes is 0.
double memcpy_gbps(std::size_t bytes);

// Sizes measured by memcpy_gbps() (and measure_floors) so far, with their results.
std::map<std::size_t, double> memcpy_sizes_measured();

// Per-buffer size of the DRAM probe: max(4 x last-level cache, 64 MiB), both buffers together capped at
// 1/8 of MemAvailable.
std::size_t dram_probe_bytes();

// "measured" (the scope's name), the c2c keys of to_json(C2cFloor), memcpy_gbps_cache,
// memcpy_gbps_dram, syscall_ns, timer_ns (null when the probe could not run or the scope left
// it out), memcpy_gbps_by_size and
// c2c_copy_gbps_by_size (decimal-string keys), c2c_by_placement (where -> parent_cpu,
// peer_cpu, the c2c keys; or lacking: the reason); with a network floor, the net_* keys.
nlohmann::json to_json(const Floors& f);

// One sentence per floor whose relative change |end - start| / start exceeds limit.
std::vector<std::string> drift_warnings(const Floors& start, const Floors& end, double limit);

}  // namespace ipcm
