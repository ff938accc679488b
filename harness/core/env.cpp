#include "harness/core/env.h"

#include "ipcm_revision.h"  // generated at build time: IPCM_GIT_REVISION, IPCM_GIT_COMMIT_DATE

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define IPCM_HAVE_CPUID 1
#else
#define IPCM_HAVE_CPUID 0
#endif

namespace ipcm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kSysCpu = "/sys/devices/system/cpu";
const std::string kSysNode = "/sys/devices/system/node";

// glibc's CPU_SETSIZE; the kernel's mask may be larger, so affinity calls grow from here.
constexpr int kMinMaskCpus = 1024;
constexpr int kMaxMaskCpus = 1 << 16;

#if IPCM_HAVE_CPUID
constexpr unsigned kCpuidFeatures = 1;
constexpr unsigned kHypervisorPresentBit = 1u << 31;  // leaf 1, ecx
constexpr unsigned kCpuidHypervisorBase = 0x40000000;
// KVM with Hyper-V enlightenments answers "Microsoft Hv" at the base leaf and its own
// vendor one block higher.
constexpr unsigned kCpuidHypervisorAlt = 0x40000100;
#endif

std::optional<std::string> read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

std::optional<long> read_long(const std::string& path) {
  const auto line = read_line(path);
  if (!line || line->empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(line->c_str(), &end, 10);
  if (errno != 0 || end == line->c_str()) return std::nullopt;
  return v;
}

// sysfs cache sizes read "32768K" or "32M".
std::optional<std::uint64_t> sysfs_size(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text->c_str(), &end, 10);
  if (end == text->c_str() || n == 0) return std::nullopt;
  switch (*end) {
    case 'K': return std::uint64_t(n) << 10;
    case 'M': return std::uint64_t(n) << 20;
    case 'G': return std::uint64_t(n) << 30;
    case '\0': return std::uint64_t(n);
    default: return std::nullopt;
  }
}

json or_null(const std::optional<std::string>& s) {
  return s && !s->empty() ? json(*s) : json(nullptr);
}

// "cpu12" -> 12, anything else -> -1; the same for "node3".
int numbered(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return -1;
  const std::string digits = name.substr(prefix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); }))
    return -1;
  return std::stoi(digits);
}

// -1 wherever sysfs does not say.
CpuTopology topology_of(int cpu) {
  CpuTopology t;
  t.cpu = cpu;
  const std::string base = kSysCpu + "/cpu" + std::to_string(cpu);
  t.package = read_long(base + "/topology/physical_package_id").value_or(-1);
  t.core = read_long(base + "/topology/core_id").value_or(-1);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    const int node = numbered(entry.path().filename().string(), "node");
    if (node >= 0) {
      t.node = node;
      break;
    }
  }
  return t;
}

std::vector<int> present_cpus() {
  std::vector<int> cpus;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kSysCpu, ec)) {
    const int cpu = numbered(entry.path().filename().string(), "cpu");
    if (cpu >= 0) cpus.push_back(cpu);
  }
  std::sort(cpus.begin(), cpus.end());
  return cpus;
}

struct CpuSetFree {
  void operator()(cpu_set_t* s) const noexcept { CPU_FREE(s); }
};
using CpuSetPtr = std::unique_ptr<cpu_set_t, CpuSetFree>;

int initial_mask_cpus() {
  return static_cast<int>(std::max<long>(kMinMaskCpus, sysconf(_SC_NPROCESSORS_CONF)));
}

// pid 0 is the calling thread.
std::vector<int> affinity_of(pid_t pid) {
  for (int n = initial_mask_cpus(); n <= kMaxMaskCpus; n *= 2) {
    CpuSetPtr set(CPU_ALLOC(n));
    if (!set) return {};
    const std::size_t bytes = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(bytes, set.get());
    if (sched_getaffinity(pid, bytes, set.get()) == 0) {
      std::vector<int> cpus;
      for (int cpu = 0; cpu < n; ++cpu)
        if (CPU_ISSET_S(cpu, bytes, set.get())) cpus.push_back(cpu);
      return cpus;
    }
    if (errno != EINVAL) return {};
  }
  return {};
}

bool set_thread_affinity(const std::vector<int>& cpus) {
  if (cpus.empty() || cpus.front() < 0) return false;
  const int n = std::max(initial_mask_cpus(), *std::max_element(cpus.begin(), cpus.end()) + 1);
  CpuSetPtr set(CPU_ALLOC(n));
  if (!set) return false;
  const std::size_t bytes = CPU_ALLOC_SIZE(n);
  CPU_ZERO_S(bytes, set.get());
  for (int cpu : cpus) CPU_SET_S(cpu, bytes, set.get());
  return sched_setaffinity(0, bytes, set.get()) == 0;
}

// The first processor's block of /proc/cpuinfo, "key : value" per line.
std::vector<std::pair<std::string, std::string>> first_cpuinfo_block(std::istream& in) {
  std::vector<std::pair<std::string, std::string>> fields;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (fields.empty()) continue;
      break;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
    const auto start = line.find_first_not_of(" \t", colon + 1);
    fields.emplace_back(key, start == std::string::npos ? std::string() : line.substr(start));
  }
  return fields;
}

std::optional<std::string> cpuinfo_field(
    const std::vector<std::pair<std::string, std::string>>& fields, const std::string& key) {
  for (const auto& [k, v] : fields)
    if (k == key && !v.empty()) return v;
  return std::nullopt;
}

json cpu_model(const std::vector<std::pair<std::string, std::string>>& cpuinfo) {
  return or_null(cpuinfo_field(cpuinfo, "model name"));
}

// Under KVM the model name is often only "AMD EPYC", and the development VM has run on two
// hosts of different silicon under that name; the signature tells them apart. x86 names
// it by vendor, family, model and stepping, Arm by implementer, architecture, variant, part
// and revision. Decimal numbers are kept as numbers, the rest (vendor, hex ids) as text.
json cpu_signature(const std::vector<std::pair<std::string, std::string>>& cpuinfo) {
  static const std::pair<const char*, const char*> kFields[] = {
      {"vendor_id", "vendor"},           {"cpu family", "family"},
      {"model", "model"},                {"stepping", "stepping"},
      {"CPU implementer", "implementer"}, {"CPU architecture", "architecture"},
      {"CPU variant", "variant"},        {"CPU part", "part"},
      {"CPU revision", "revision"},
  };
  json out = json::object();
  for (const auto& [key, name] : kFields) {
    const auto value = cpuinfo_field(cpuinfo, key);
    if (!value) continue;
    const bool decimal = std::all_of(value->begin(), value->end(),
                                     [](unsigned char c) { return std::isdigit(c) != 0; });
    out[name] = decimal && value->size() < 10 ? json(std::stol(*value)) : json(*value);
  }
  return out.empty() ? json(nullptr) : out;
}

// A microcode update can change what a mitigation or an instruction costs on the same CPU.
json microcode(const std::vector<std::pair<std::string, std::string>>& cpuinfo) {
  return or_null(cpuinfo_field(cpuinfo, "microcode"));
}

// How an idle CPU waits decides how fast a blocked peer wakes: with the haltpoll driver and
// no guest polling, every idle vCPU halts into the hypervisor and is woken through it.
json cpuidle() {
  const auto driver = read_line(kSysCpu + "/cpuidle/current_driver");
  auto governor = read_line(kSysCpu + "/cpuidle/current_governor_ro");
  if (!governor) governor = read_line(kSysCpu + "/cpuidle/current_governor");
  if (!driver && !governor) return nullptr;
  json out = {{"driver", or_null(driver)}, {"governor", or_null(governor)}};
  // The haltpoll governor's polling limit; its parameter exists wherever the governor is
  // built in, so it is recorded only when that governor decides.
  if (governor == "haltpoll")
    if (const auto poll = read_long("/sys/module/haltpoll/parameters/guest_halt_poll_ns"))
      out["guest_halt_poll_ns"] = *poll;
  return out;
}

json logical_cpus() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? json(n) : json(nullptr);
}

struct CoreCount {
  std::size_t cores = 0;    // distinct (package, core) pairs
  std::size_t threads = 0;  // CPUs whose topology was readable
};

CoreCount count_cores() {
  std::set<std::pair<long, long>> cores;
  CoreCount count;
  for (int cpu : present_cpus()) {
    const CpuTopology t = topology_of(cpu);
    if (!t.core_known()) continue;
    cores.emplace(t.package, t.core);
    ++count.threads;
  }
  count.cores = cores.size();
  return count;
}

json smt(const CoreCount& count) {
  if (read_line(kSysCpu + "/smt/control") == "notsupported") return false;
  if (const auto active = read_long(kSysCpu + "/smt/active")) return *active != 0;
  if (count.cores == 0) return nullptr;
  return count.threads > count.cores;
}

json numa_nodes() {
  std::error_code ec;
  fs::directory_iterator it(kSysNode, ec);
  if (ec) return nullptr;
  int nodes = 0;
  for (const auto& entry : it)
    if (numbered(entry.path().filename().string(), "node") >= 0) ++nodes;
  return nodes > 0 ? json(nodes) : json(nullptr);
}

json kernel() {
  utsname u{};
  if (uname(&u) != 0) return nullptr;
  return std::string(u.release) + " " + u.version;
}

#if IPCM_HAVE_CPUID
std::string hypervisor_vendor(unsigned leaf) {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __cpuid(leaf, eax, ebx, ecx, edx);
  char vendor[13] = {};
  std::memcpy(vendor, &ebx, 4);
  std::memcpy(vendor + 4, &ecx, 4);
  std::memcpy(vendor + 8, &edx, 4);
  std::string s(vendor);  // stops at the padding NULs of "KVMKVMKVM\0\0\0"
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}
#endif

json virtualization() {
#if IPCM_HAVE_CPUID
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(kCpuidFeatures, &eax, &ebx, &ecx, &edx)) return nullptr;
  if (!(ecx & kHypervisorPresentBit)) return "none";
  static const std::pair<const char*, const char*> kKnown[] = {
      {"KVMKVMKVM", "kvm"},       {"Microsoft Hv", "hyperv"}, {"VMwareVMware", "vmware"},
      {"XenVMMXenVMM", "xen"},    {"TCGTCGTCGTCG", "qemu-tcg"},
  };
  std::string vendor = hypervisor_vendor(kCpuidHypervisorBase);
  if (vendor == "Microsoft Hv" && hypervisor_vendor(kCpuidHypervisorAlt) == "KVMKVMKVM")
    vendor = "KVMKVMKVM";
  for (const auto& [raw, name] : kKnown)
    if (vendor == raw) return name;
  return vendor.empty() ? json(nullptr) : json(vendor);
#else
  return nullptr;
#endif
}

json turbo() {
  if (const auto no_turbo = read_long(kSysCpu + "/intel_pstate/no_turbo")) return *no_turbo == 0;
  if (const auto boost = read_long(kSysCpu + "/cpufreq/boost")) return *boost != 0;
  return nullptr;
}

json mitigations() {
  std::error_code ec;
  fs::directory_iterator it(kSysCpu + "/vulnerabilities", ec);
  if (ec) return nullptr;
  json out = json::object();
  for (const auto& entry : it)
    out[entry.path().filename().string()] = or_null(read_line(entry.path().string()));
  return out;
}

// "always [madvise] never" -> "madvise"
json thp() {
  const auto line = read_line("/sys/kernel/mm/transparent_hugepage/enabled");
  if (!line) return nullptr;
  const auto open = line->find('[');
  const auto close = line->find(']', open);
  if (open == std::string::npos || close == std::string::npos) return nullptr;
  return or_null(line->substr(open + 1, close - open - 1));
}

json compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " __VERSION__;
#else
  return nullptr;
#endif
}

[[maybe_unused]] json build_definition(const char* value) {
  return value && *value ? json(value) : json(nullptr);
}

json hostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return nullptr;
  return std::string(name);
}

std::string describe_pair(const CpuTopology& a, const CpuTopology& b) {
  std::string s = "CPUs " + std::to_string(a.cpu) + " and " + std::to_string(b.cpu);
  if (!a.core_known() || !b.core_known())
    return s + ": topology unknown, so they may share a physical core";
  s += " are on distinct physical cores";
  s += a.package == b.package ? ", package " + std::to_string(a.package)
                              : ", packages " + std::to_string(a.package) + " and " +
                                    std::to_string(b.package);
  if (a.node >= 0 && b.node >= 0)
    s += a.node == b.node ? ", NUMA node " + std::to_string(a.node)
                          : ", NUMA nodes " + std::to_string(a.node) + " and " +
                                std::to_string(b.node) + " (no allowed pair shares a node)";
  return s;
}

bool same_core(const CpuTopology& a, const CpuTopology& b) {
  return a.core_known() && b.core_known() && a.package == b.package && a.core == b.core;
}

// Distinct cores first, then a shared NUMA node, then a shared package.
int pair_score(const CpuTopology& a, const CpuTopology& b) {
  constexpr int kDistinctCore = 4, kSameNode = 2, kSamePackage = 1;
  int score = 0;
  if (!same_core(a, b)) score += kDistinctCore;
  if (a.node >= 0 && a.node == b.node) score += kSameNode;
  if (a.package >= 0 && a.package == b.package) score += kSamePackage;
  return score;
}

}  // namespace

nlohmann::json cpu_identity(std::istream& cpuinfo) {
  const auto fields = first_cpuinfo_block(cpuinfo);
  return {{"cpu_model", cpu_model(fields)},
          {"cpu_signature", cpu_signature(fields)},
          {"microcode", microcode(fields)}};
}

nlohmann::json environment_fingerprint() {
  const CoreCount cores = count_cores();
  json env = json::object();
  std::ifstream cpuinfo("/proc/cpuinfo");
  env.update(cpu_identity(cpuinfo));
  env["logical_cpus"] = logical_cpus();
  env["physical_cores"] = cores.cores > 0 ? json(cores.cores) : json(nullptr);
  env["smt"] = smt(cores);
  env["numa_nodes"] = numa_nodes();
  env["kernel"] = kernel();
  env["virtualization"] = virtualization();
  env["governor"] = or_null(read_line(kSysCpu + "/cpu0/cpufreq/scaling_governor"));
  env["cpuidle"] = cpuidle();
  env["turbo"] = turbo();
  env["mitigations"] = mitigations();
  env["thp"] = thp();
  env["clocksource"] =
      or_null(read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource"));
  env["compiler"] = compiler();
#ifdef IPCM_CXX_FLAGS
  env["cxx_flags"] = build_definition(IPCM_CXX_FLAGS);
#else
  env["cxx_flags"] = nullptr;
#endif
#ifdef IPCM_BUILD_TYPE
  env["build_type"] = build_definition(IPCM_BUILD_TYPE);
#else
  env["build_type"] = nullptr;
#endif
  env["git_revision"] = build_definition(IPCM_GIT_REVISION);
  env["commit_date"] = build_definition(IPCM_GIT_COMMIT_DATE);
  env["hostname"] = hostname();
  return env;
}

Placement choose_placement() {
  Placement p;
  p.allowed_cpus = affinity_of(getpid());
  const auto& cpus = p.allowed_cpus;
  if (cpus.empty()) {
    p.reason = "the process's CPU affinity could not be read, so both sides are left unpinned";
    return p;
  }
  if (cpus.size() == 1) {
    p.same_core = true;
    p.reason = "only CPU " + std::to_string(cpus.front()) +
               " is allowed: both sides share one CPU, so every round trip includes context "
               "switches";
    return p;
  }

  std::vector<CpuTopology> topo;
  topo.reserve(cpus.size());
  for (int cpu : cpus) topo.push_back(topology_of(cpu));
  // Ascending order and a strict comparison keep the lowest-numbered pair among equals.
  std::size_t best_a = 0, best_b = 1;
  int best_score = -1;
  for (std::size_t a = 0; a < topo.size(); ++a)
    for (std::size_t b = a + 1; b < topo.size(); ++b)
      if (const int score = pair_score(topo[a], topo[b]); score > best_score) {
        best_score = score;
        best_a = a;
        best_b = b;
      }

  const CpuTopology& a = topo[best_a];
  const CpuTopology& b = topo[best_b];
  p.pinned = true;
  p.parent_cpu = a.cpu;
  p.peer_cpu = b.cpu;
  p.same_core = same_core(a, b);
  p.reason = p.same_core ? "only SMT siblings are allowed: CPUs " + std::to_string(a.cpu) +
                               " and " + std::to_string(b.cpu) + " share physical core " +
                               std::to_string(a.core) + ", so the two sides compete for it"
                         : describe_pair(a, b);
  return p;
}

Sited place(Where where, const std::vector<int>& allowed) {
  std::vector<CpuTopology> topo;
  for (int cpu : allowed) topo.push_back(topology_of(cpu));
  return place_among(where, topo);
}

Sited place_among(Where where, const std::vector<CpuTopology>& topo) {
  Sited s;
  Placement& p = s.placement;
  for (const CpuTopology& t : topo) p.allowed_cpus.push_back(t.cpu);
  const auto& cpus = p.allowed_cpus;
  const std::string name(kWhereNames.name(where));
  if (where == Where::kUnpinned) {
    p.same_core = cpus.size() == 1;
    p.reason = "unpinned: both sides may run on any allowed CPU, where the scheduler puts them";
    return s;
  }
  if (cpus.empty()) {
    s.lacking = "the process's CPU affinity could not be read, so no CPU can be chosen for " + name;
    return s;
  }
  if (where == Where::kSameCpu) {
    p.pinned = true;
    p.parent_cpu = p.peer_cpu = cpus.front();
    p.same_core = true;
    p.reason = "both sides pinned to CPU " + std::to_string(cpus.front());
    return s;
  }
  const auto fits = [where](const CpuTopology& a, const CpuTopology& b) {
    if (!a.core_known() || !b.core_known()) return false;
    switch (where) {
      case Where::kOtherCore:
        return a.package == b.package && a.core != b.core;
      case Where::kSmtSibling:
        return a.package == b.package && a.core == b.core;
      case Where::kOtherSocket:
        return a.package != b.package;
      default:
        return false;
    }
  };
  for (std::size_t a = 0; a < topo.size(); ++a)
    for (std::size_t b = a + 1; b < topo.size(); ++b)
      if (fits(topo[a], topo[b])) {
        p.pinned = true;
        p.parent_cpu = topo[a].cpu;
        p.peer_cpu = topo[b].cpu;
        p.same_core = same_core(topo[a], topo[b]);
        p.reason = describe_pair(topo[a], topo[b]);
        if (p.same_core) p.reason = "CPUs " + std::to_string(topo[a].cpu) + " and " + std::to_string(topo[b].cpu) +
                                    " are SMT siblings on physical core " + std::to_string(topo[a].core);
        return s;
      }
  if (cpus.size() < 2) {
    s.lacking = "only CPU " + std::to_string(cpus.front()) + " is allowed, so no two CPUs can be chosen for " + name;
  } else if (std::any_of(topo.begin(), topo.end(), [](const CpuTopology& t) { return !t.core_known(); })) {
    s.lacking = "the CPU topology is not in sysfs, so which CPUs share a core or a package is unknown";
  } else if (where == Where::kSmtSibling) {
    s.lacking = "no two allowed CPUs share a physical core (no SMT here, or its siblings are not allowed)";
  } else if (where == Where::kOtherSocket) {
    s.lacking = "every allowed CPU is in package " + std::to_string(topo.front().package) + ": one socket";
  } else {
    s.lacking = "no two allowed CPUs are distinct physical cores of one package";
  }
  return s;
}

nlohmann::json to_json(const Placement& p) {
  return {
      {"pinned", p.pinned},
      {"parent_cpu", p.pinned ? json(p.parent_cpu) : json(nullptr)},
      {"peer_cpu", p.pinned ? json(p.peer_cpu) : json(nullptr)},
      {"same_core", p.same_core},
      {"allowed_cpus", p.allowed_cpus},
      {"reason", p.reason},
  };
}

std::optional<std::uint64_t> llc_bytes() {
  long best_level = 0;
  std::optional<std::uint64_t> best;
  for (int i = 0;; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::optional<long> level = read_long(dir + "level");
    if (!level) break;
    if (read_line(dir + "type") == "Instruction") continue;
    if (const auto size = sysfs_size(read_line(dir + "size")); size && *level > best_level) {
      best_level = *level;
      best = size;
    }
  }
  return best;
}

int parent_cpu_of(const Placement& p) {
  if (p.pinned) return p.parent_cpu;
  return p.allowed_cpus.size() == 1 ? p.allowed_cpus.front() : -1;
}

int peer_cpu_of(const Placement& p) {
  if (p.pinned) return p.peer_cpu;
  return p.allowed_cpus.size() == 1 ? p.allowed_cpus.front() : -1;
}

bool pin_this_thread(int cpu) {
  return cpu >= 0 && set_thread_affinity({cpu});
}

std::vector<int> thread_affinity() { return affinity_of(0); }

ScopedPin::ScopedPin(int cpu) : saved_(thread_affinity()) {
  ok_ = !saved_.empty() && pin_this_thread(cpu);
}

ScopedPin::ScopedPin(const std::vector<int>& cpus) : saved_(thread_affinity()) {
  ok_ = !saved_.empty() && set_thread_affinity(cpus);
}

ScopedPin::~ScopedPin() {
  if (ok_) set_thread_affinity(saved_);
}

}  // namespace ipcm
