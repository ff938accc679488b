#include "bench/cli.h"
#include "harness/transports/roudi.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <regex>
#include <set>

#include "harness/core/limits.h"
#include "harness/core/profile.h"

namespace ipcm {
namespace {

// Google Benchmark 1.7.1's own rule for --benchmark_context (ParseKvPairs): empty, or
// comma-separated items each with exactly one '='. Checked here so that a value it would
// refuse is refused in ipcmeter's words, on one line.
bool is_key_value_list(const std::string& v) {
  if (v.empty()) return true;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = v.find(',', start);
    const std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (std::count(item.begin(), item.end(), '=') != 1) return false;
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

// Google Benchmark 1.7.1's flags, by the kind of value each takes.
const std::set<std::string> kBoolFlags = {"benchmark_list_tests", "benchmark_enable_random_interleaving",
                                          "benchmark_report_aggregates_only", "benchmark_display_aggregates_only",
                                          "benchmark_counters_tabular"};
const std::set<std::string> kFormats = {"console", "json", "csv"};
const std::set<std::string> kTimeUnits = {"ns", "us", "ms", "s"};
const std::set<std::string> kTruthy = {"", "1", "true", "yes", "on", "t", "y"};
const std::set<std::string> kFalsy = {"0", "false", "no", "off", "f", "n"};
// An upper bound that catches typos such as a value in nanoseconds.
constexpr double kMaxMinTimeSeconds = 3600;
constexpr long kMaxRepetitions = 1000;
constexpr std::uint64_t kMaxCalibrationDelayNs = 1'000'000'000;

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool parse_double(const std::string& v, double& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtod(v.c_str(), &end);
  return errno == 0 && end != v.c_str() && *end == '\0';
}

bool parse_long(const std::string& v, long& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtol(v.c_str(), &end, 10);
  return errno == 0 && end != v.c_str() && *end == '\0';
}

std::string profile_names() {
  std::string s;
  for (const Profile& p : profiles()) s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

// Checks one --benchmark_* flag; returns an error sentence or "".
std::string check_benchmark_flag(const std::string& key, const std::string& value, bool has_value, CommandLine& cl) {
  const std::string bad = "--" + key + "=" + value + ": ";
  if (kBoolFlags.count(key)) {
    const std::string v = lower(value);
    if (!kTruthy.count(v) && !kFalsy.count(v)) return bad + "expected true or false";
    const bool on = kTruthy.count(v) > 0;
    if (key == "benchmark_list_tests") cl.list_only = on;
    if (key == "benchmark_counters_tabular") cl.tabular = on;
    return "";
  }
  if (!has_value) return "--" + key + " needs a value (--" + key + "=...)";
  if (key == "benchmark_min_time") {
    double d;
    if (!parse_double(value, d) || !(d > 0) || d > kMaxMinTimeSeconds)
      return bad + "expected seconds as a number above 0 (Google Benchmark 1.7.1 takes a plain number, e.g. 0.5)";
    cl.has_min_time = true;
    return "";
  }
  if (key == "benchmark_min_warmup_time") {
    double d;
    if (!parse_double(value, d) || !(d >= 0) || d > kMaxMinTimeSeconds) return bad + "expected seconds, 0 or more";
    return "";
  }
  if (key == "benchmark_repetitions") {
    long n;
    if (!parse_long(value, n) || n < 1 || n > kMaxRepetitions)
      return bad + "expected a whole number from 1 to " + std::to_string(kMaxRepetitions);
    cl.has_repetitions = true;
    return "";
  }
  if (key == "benchmark_filter") {
    cl.filter = value;
    bool sel;
    std::string err;
    if (!filter_selects(value, "", sel, err)) return bad + err;
    return "";
  }
  if (key == "benchmark_format" || key == "benchmark_out_format") {
    if (!kFormats.count(value)) return bad + "expected console, json or csv";
    (key == "benchmark_format" ? cl.display_format : cl.out_format) = value;
    return "";
  }
  if (key == "benchmark_out") {
    if (value.empty()) return bad + "expected a file path";
    cl.out_path = value;
    return "";
  }
  if (key == "benchmark_time_unit") {
    if (!kTimeUnits.count(value)) return bad + "expected ns, us, ms or s";
    return "";
  }
  if (key == "benchmark_color") {
    const std::string v = lower(value);
    if (v == "auto") {
      cl.color = isatty(STDOUT_FILENO);
    } else if (kTruthy.count(v) || kFalsy.count(v)) {
      cl.color = kTruthy.count(v) > 0;
    } else {
      return bad + "expected auto, true or false";
    }
    return "";
  }
  if (key == "benchmark_context") {
    if (!is_key_value_list(value)) return bad + "expected KEY=VALUE[,KEY=VALUE...]";
    return "";
  }
  if (key == "benchmark_perf_counters") return "";
  if (key == "v") {
    long n;
    if (!parse_long(value, n) || n < 0) return bad + "expected a verbosity level, 0 or more";
    return "";
  }
  return "unknown flag --" + key + " (see --help)";
}

}  // namespace

bool filter_selects(const std::string& filter, const std::string& name, bool& selected, std::string& error) {
  std::string re = filter;
  bool negate = false;
  if (!re.empty() && re[0] == '-') {
    negate = true;
    re.erase(0, 1);
  }
  if (re.empty() || re == "all") re = ".";
  try {
    const std::regex rx(re, std::regex::extended);
    selected = std::regex_search(name, rx) != negate;
  } catch (const std::regex_error& e) {
    error = "not a valid regular expression (" + std::string(e.what()) + ")";
    return false;
  }
  return true;
}

bool parse_command_line(int argc, char** argv, CommandLine& cl, std::string& error) {
  cl.profile = std::string(kDefaultProfile);
  std::string other;  // the first argument that is neither --help nor --describe
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      cl.help = true;
      continue;
    }
    if (arg == "--describe") {
      cl.describe = true;
      continue;
    }
    if (arg.rfind("--describe=", 0) == 0) {
      error = arg + ": --describe takes no value";
      return false;
    }
    if (other.empty()) other = arg;
    if (arg.rfind("--", 0) != 0) {
      error = "unexpected argument '" + arg + "' (flags start with --; see --help)";
      return false;
    }
    const auto eq = arg.find('=');
    const std::string key = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const bool has_value = eq != std::string::npos;
    std::string value = has_value ? arg.substr(eq + 1) : "";
    if (key == "profile") {
      if (!has_value) {
        if (i + 1 >= argc || std::string(argv[i + 1]).rfind("--", 0) == 0) {
          error = "--profile needs a value: " + profile_names();
          return false;
        }
        value = argv[++i];
      }
      if (!find_profile(value)) {
        error = "--profile " + value + ": unknown profile (expected " + profile_names() + ")";
        return false;
      }
      cl.profile = value;
      continue;
    }
    if (key == "mpi") {
      if (has_value) {
        error = arg + ": --mpi takes no value";
        return false;
      }
      cl.mpi = true;
      continue;
    }
    if (key == "calibration_delay_ns") {
      long n;
      if (!has_value || !parse_long(value, n) || n < 0 || std::uint64_t(n) > kMaxCalibrationDelayNs) {
        error = "--calibration_delay_ns=" + value + ": expected nanoseconds from 0 to " +
                std::to_string(kMaxCalibrationDelayNs);
        return false;
      }
      cl.calibration_delay_ns = std::uint64_t(n);
      continue;
    }
    if (key == "python") {
      // A path that is not there or not a CPython makes error rows that say so (the run goes
      // on); only a flag without a path is bad input.
      if (!has_value || value.empty()) {
        error = "--python needs a path: --python=PATH (repeatable; default /usr/bin/python3)";
        return false;
      }
      cl.python.push_back(value);
      continue;
    }
    if (key == "calibration_delay_filter") {
      try {
        if (!has_value || value.empty()) throw std::regex_error(std::regex_constants::error_collate);
        (void)std::regex(value);
      } catch (const std::regex_error&) {
        error = "--calibration_delay_filter=" + value + ": expected a regular expression (ECMAScript) naming benchmarks";
        return false;
      }
      cl.calibration_delay_filter = value;
      continue;
    }
    if (key == "iceoryx") {
      if (!has_value || !parse_iceoryx_mode(value)) {
        error = "--iceoryx=" + value + ": expected --iceoryx=use-running (run the iceoryx rows through a RouDi that ipcmeter did not start)";
        return false;
      }
      cl.iceoryx_use_running = true;
      continue;
    }
    if (key == "floors") {
      const std::optional<FloorScope> scope = has_value ? kFloorScopeNames.parse(value) : std::nullopt;
      if (!scope) {
        error = "--floors=" + value + ": expected all or c2c_rtt (only the core-to-core round trip)";
        return false;
      }
      cl.floors = *scope;
      continue;
    }
    if (key.rfind("benchmark_", 0) == 0 || key == "v") {
      if (std::string e = check_benchmark_flag(key, value, has_value, cl); !e.empty()) {
        error = e;
        return false;
      }
      cl.benchmark_args.push_back(arg);
      if (key == "benchmark_min_time") cl.min_time_s = std::strtod(value.c_str(), nullptr);
      continue;
    }
    error = "unknown flag --" + key + " (see --help)";
    return false;
  }
  // What the binary is does not depend on a profile or a filter: a flag beside --describe
  // would be silently ignored, so it is refused.
  if (cl.describe && !other.empty()) {
    error = "--describe takes no other flags (got " + other + ")";
    return false;
  }
  return true;
}

std::string usage() {
  return "usage: ipcmeter [--profile " + profile_names() + "] [--calibration_delay_ns=N [--calibration_delay_filter=REGEX]]\n"
         "                [--python=PATH ...] [--floors=all|c2c_rtt] [Google Benchmark flags]\n"
         "       mpirun -np 2 [--mca pml ob1 --mca btl self,vader|self,tcp] ipcmeter --mpi [flags above]\n"
         "       ipcmeter --describe\n"
         "\n"
         "Measures what it costs to hand messages between two workers — threads, forked and\n"
         "spawned processes — over pipes, sockets, FIFOs, TCP, message queues and shared memory.\n"
         "\n"
         "  --profile P               quick (64 B and 64 KiB, once, under a minute), default (four\n"
         "                            sizes, pingpong/stream/spawn/compute/pool and the CPython rows\n"
         "                            the report compares 3 times each, about 10 minutes) or full\n"
         "                            (8 B to 1 MiB, 3 times); default: default.\n"
         "                            --benchmark_repetitions, when given, applies to every family\n"
         "  --calibration_delay_ns=N  busy-wait N ns (a timed loop, no clock reads) before every message\n"
         "                            the measuring side sends: a known slowdown for checking a regression\n"
         "                            gate; never for real runs\n"
         "  --calibration_delay_filter=REGEX  slow only the benchmarks whose name matches (pingpong,\n"
         "                            stream): one row slowed, as a real regression would be\n"
         "  --mpi                     started by mpirun with two ranks: rank 0 runs the suite and writes\n"
         "                            the results, rank 1 is the peer of the mpi_sm/mpi_tcp rows (the\n"
         "                            launch's --mca btl picks which; scripts/mpi_rows.sh runs both)\n"
         "  --iceoryx=use-running     run the iceoryx rows through a RouDi that ipcmeter did not start (without\n"
         "                            it they are listed as errors when one runs; ipcmeter starts its own otherwise)\n"
         "  --python=PATH             the CPython interpreter the py_* families measure (repeatable,\n"
         "                            to compare interpreters in one run); default /usr/bin/python3.\n"
         "                            One that is missing or too old makes its rows errors that say why\n"
         "  --floors=c2c_rtt          measure only the core-to-core round trip at the start and the end\n"
         "                            of the run: not the other floors (memcpy, DRAM, syscall, copy per\n"
         "                            size, per placement), nor the busy check's two 0.3 s windows. For a\n"
         "                            run that only witnesses where the host put the CPUs, as\n"
         "                            scripts/ab.py's floor probes (a run across hosts still measures the\n"
         "                            network floor); default: all\n"
         "  --describe                print JSON describing the suite (families with their keys and\n"
         "                            values, counters with unit, direction and which are primary,\n"
         "                            profiles, peers, transports) and exit; results files carry the\n"
         "                            same object as ipcmeter.schema\n"
         "\n"
         "Google Benchmark 1.7.1 flags keep their meaning: --benchmark_filter=REGEX,\n"
         "--benchmark_list_tests, --benchmark_repetitions=N, --benchmark_min_time=SECONDS (a plain\n"
         "number; the profile sets it when absent), --benchmark_out=FILE (written atomically, with\n"
         "the ipcmeter object when JSON), --benchmark_out_format=json|csv|console,\n"
         "--benchmark_format, --benchmark_color, --benchmark_counters_tabular, --benchmark_time_unit,\n"
         "--benchmark_report_aggregates_only, --benchmark_display_aggregates_only,\n"
         "--benchmark_enable_random_interleaving, --benchmark_min_warmup_time, --benchmark_context.\n";
}

}  // namespace ipcm
