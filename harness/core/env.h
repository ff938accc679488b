// What the run was measured on, and where its two sides run. A result is only comparable with
// another taken on the same kind of machine, so every fact the numbers depend on is recorded;
// a fact that cannot be read is null rather than guessed.
#pragma once

#include <istream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/core/name_table.h"

namespace ipcm {

// The contract's "env" object: cpu_model, cpu_signature, microcode, logical_cpus,
// physical_cores, smt, numa_nodes, kernel, virtualization, governor, cpuidle, turbo,
// mitigations, thp, clocksource, compiler, cxx_flags, build_type, git_revision, commit_date,
// hostname.
nlohmann::json environment_fingerprint();

// The env keys read from /proc/cpuinfo's first processor: cpu_model, cpu_signature (x86:
// vendor, family, model, stepping; Arm: implementer, architecture, variant, part, revision)
// and microcode, each null when the text lacks it.
nlohmann::json cpu_identity(std::istream& cpuinfo);

// The two CPUs a benchmark's sides are pinned to. parent_cpu/peer_cpu are -1 when not pinned.
struct Placement {
  bool pinned = false;
  int parent_cpu = -1;
  int peer_cpu = -1;
  bool same_core = false;  // SMT siblings, or one CPU shared by both sides
  std::string reason;
  std::vector<int> allowed_cpus;  // the process's affinity mask, ascending
};

// Two allowed CPUs on distinct physical cores (same NUMA node and package preferred, lowest
// numbers first); SMT siblings if nothing better is allowed; unpinned with a single CPU.
Placement choose_placement();

// Where a CPU sits, from sysfs; -1 where sysfs does not say (as in some VMs).
struct CpuTopology {
  int cpu = -1;
  long package = -1;
  long core = -1;
  int node = -1;
  bool core_known() const { return package >= 0 && core >= 0; }
};

// Where the placement family puts its two sides: one CPU for both, two physical cores of one
// package, the two SMT threads of one core, two packages, or wherever the scheduler likes.
enum class Where { kSameCpu, kOtherCore, kSmtSibling, kOtherSocket, kUnpinned };
inline constexpr auto kWhereNames = name_table<Where>({{Where::kSameCpu, "same_cpu"},
                                                       {Where::kOtherCore, "other_core"},
                                                       {Where::kSmtSibling, "smt_sibling"},
                                                       {Where::kOtherSocket, "other_socket"},
                                                       {Where::kUnpinned, "unpinned"}});
static_assert(kWhereNames.well_formed());

// The CPUs for one `where` among `allowed` (the process's affinity as the run found it, before
// main pinned itself: Placement::allowed_cpus), lowest numbers first; or, in `lacking`, why
// they offer no such pair. kUnpinned is never lacking: its placement is unpinned, with every
// allowed CPU open to both sides.
struct Sited {
  Placement placement;
  std::string lacking;
};
Sited place(Where where, const std::vector<int>& allowed);
// The same choice among CPUs whose topology is given (ascending by cpu): pure, for tests.
Sited place_among(Where where, const std::vector<CpuTopology>& topo);

// Keys: pinned, parent_cpu, peer_cpu (null when not pinned), same_core, allowed_cpus, reason.
nlohmann::json to_json(const Placement& p);

// The CPU a side should run on under this placement: the pinned one, else the only allowed
// CPU, else -1 (leave the thread where the scheduler puts it).
int parent_cpu_of(const Placement& p);
int peer_cpu_of(const Placement& p);

// Pins the calling thread to one CPU; false if the kernel refuses (or cpu < 0).
bool pin_this_thread(int cpu);

// The calling thread's affinity mask as CPU numbers, ascending; empty if unreadable.
std::vector<int> thread_affinity();

// The last-level cache in bytes: cpu0's highest-level data or unified cache in sysfs; nullopt
// when sysfs does not say (as in some VMs).
std::optional<std::uint64_t> llc_bytes();

// Pins the calling thread for a scope and gives it back the mask it had before, so a probe
// or a benchmark never leaves its caller pinned. The vector form opens a set of CPUs (an
// unpinned row's side may go anywhere it is allowed).
class ScopedPin {
 public:
  explicit ScopedPin(int cpu);
  explicit ScopedPin(const std::vector<int>& cpus);
  ~ScopedPin();
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;
  bool ok() const noexcept { return ok_; }

 private:
  std::vector<int> saved_;
  bool ok_ = false;
};

}  // namespace ipcm
