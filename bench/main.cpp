// ipcmeter: the suite's entry point. Order matters here: a launcher role is dispatched before
// anything else (a spawned peer must not start a benchmark run), stale objects are swept and
// the floors measured before any benchmark, and the results file appears only complete.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "bench/cli.h"
#include "bench/describe.h"
#include "bench/py/python.h"
#include "bench/report.h"
#include "harness/core/results_file.h"
#include "bench/suite.h"
#include "harness/core/clock.h"
#include "harness/core/kernel_counters.h"
#include "harness/core/names.h"
#include "harness/launch/launcher.h"
#include "harness/launch/peer.h"
#include "harness/mpi/mpi_link.h"
#include "harness/transports/roudi.h"

namespace ipcm {
namespace {

constexpr int kExitUsage = 2;
constexpr int kExitFailed = 1;
constexpr int kSchemaVersion = 1;
// The window the busy check sleeps through, and what it tolerates: a fifth of a CPU used by
// others (daemons, the shell), 5% stolen by the hypervisor.
constexpr auto kBusyWindow = std::chrono::milliseconds(300);
constexpr double kBusyOthersCpus = 0.2;
constexpr double kBusyStealShare = 0.05;

// One line whatever the input held: control characters in an echoed argument are written as
// escapes, so a newline in a flag cannot split the message. Under mpirun every rank parses the
// same argv and would say the same thing: rank 0 alone says it and fails the launch. The others
// end quietly with 0, since a failing rank that ends first has mpirun kill the rest at once, and
// rank 0's line was then lost now and then (a CI run of tests/mpi_run.py, three ranks).
[[noreturn]] void usage_error(const std::string& what) {
  if (const mpi::LaunchEnv env = mpi::launch_env(); env.under_mpirun && env.rank != 0) std::exit(0);
  std::string line;
  for (unsigned char c : what) {
    if (c == '\n') {
      line += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      line += esc;
    } else {
      line += char(c);
    }
  }
  std::fprintf(stderr, "ipcmeter: %s\n", line.c_str());
  std::exit(kExitUsage);
}

// Two queues of large messages exceed the default 800 KiB RLIMIT_MSGQUEUE; take what the
// hard limit allows (a privileged run may raise the hard limit too).
void raise_msgqueue_limit() {
  rlimit rl{RLIM_INFINITY, RLIM_INFINITY};
  if (setrlimit(RLIMIT_MSGQUEUE, &rl) == 0) return;
  if (getrlimit(RLIMIT_MSGQUEUE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_MSGQUEUE, &rl);
  }
}

// How busy the machine is without us: the CPU time others used (and the hypervisor stole)
// while this process slept through a short window. A load average would still count the
// build that ran a minute ago; this sees only what competes now.
struct Busy {
  double others_cpus = 0;  // CPUs' worth of time used by other work
  double steal_share = 0;  // share of all CPU time the hypervisor took
};
std::optional<Busy> measure_busy(std::chrono::milliseconds window) {
  auto read = [](std::vector<unsigned long long>& v) {
    std::ifstream f("/proc/stat");
    std::string cpu;
    v.assign(8, 0);
    if (!(f >> cpu) || cpu != "cpu") return false;
    for (auto& x : v) f >> x;  // user nice system idle iowait irq softirq steal
    return bool(f);
  };
  std::vector<unsigned long long> a, b;
  if (!read(a)) return std::nullopt;
  std::this_thread::sleep_for(window);
  if (!read(b)) return std::nullopt;
  double total = 0, idle = 0;
  for (std::size_t i = 0; i < 8; ++i) total += double(b[i] - a[i]);
  idle = double(b[3] - a[3]) + double(b[4] - a[4]);
  if (total <= 0) return std::nullopt;
  const double cpus = double(sysconf(_SC_NPROCESSORS_ONLN));
  return Busy{(total - idle - double(b[7] - a[7])) / total * cpus, double(b[7] - a[7]) / total};
}

void warn_if_busy(const char* when, std::vector<std::string>& warnings) {
  const auto busy = measure_busy(kBusyWindow);
  if (!busy) return;
  char w[200];
  if (busy->others_cpus > kBusyOthersCpus) {
    std::snprintf(w, sizeof w, "other work used %.2f CPUs %s the run: results are noisy", busy->others_cpus, when);
    warnings.push_back(w);
  }
  if (busy->steal_share > kBusyStealShare) {
    std::snprintf(w, sizeof w, "the hypervisor took %.0f%% of CPU time (steal) %s the run: results are noisy",
                  100 * busy->steal_share, when);
    warnings.push_back(w);
  }
}

// The results go to a temporary file beside the target and are renamed into place only when
// complete; a run that fails or is interrupted leaves the target as it was. "" when no file is
// written.
// Open for the whole run: Google Benchmark writes through fd_path() of it, the file created.
int g_results_fd = -1;

std::string open_temporary_results(const CommandLine& cl) {
  if (cl.out_path.empty() || cl.list_only) return "";
  // What a SIGKILLed run left beside this target goes first, as its named objects do.
  sweep_stale_results_temps(cl.out_path);
  std::string why;
  const std::string tmp_out = create_results_temp(cl.out_path, g_results_fd, why);
  if (tmp_out.empty()) usage_error("--benchmark_out=" + cl.out_path + ": " + why);
  record_object(NameSpace::kFile, tmp_out);
  return tmp_out;
}

// The warning every run with a calibration delay carries, so its results cannot pass for real ones.
std::string calibration_warning(const CommandLine& cl, double loops_per_ns) {
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.2f", loops_per_ns);
  return "calibration delay of " + std::to_string(cl.calibration_delay_ns) + " ns per message (" +
         std::to_string(suite().calibration_delay_loops) + " iterations of a busy loop timed at " + rate +
         " per ns) is on" +
         (cl.calibration_delay_filter.empty() ? std::string() : " for benchmarks matching " + cl.calibration_delay_filter) +
         ": these results are slowed on purpose";
}

// The suite's settings for this run, before any family registers its benchmarks.
Suite& configure_suite(const CommandLine& cl, const Profile& profile) {
  Suite& s = suite();
  s.profile = &profile;
  s.placement = choose_placement();
  s.family_repetitions = cl.has_repetitions ? 0 : profile.repetitions;
  s.calibration_delay_ns = cl.calibration_delay_ns;
  s.row_seconds = cl.has_min_time ? cl.min_time_s : profile.min_time_s;
  if (!cl.calibration_delay_filter.empty()) s.calibration_delay_filter.emplace(cl.calibration_delay_filter);
  return s;
}

// How many registered benchmarks the filter selects.
std::size_t count_selected(const std::string& filter) {
  std::size_t selected = 0;
  std::string error;
  for (const std::string& n : registered_names()) {
    bool sel = false;
    filter_selects(filter, n, sel, error);
    selected += sel;
  }
  return selected;
}

// Google Benchmark's argv: its flags, the profile's min time unless given, the temporary file.
std::vector<std::string> google_benchmark_args(const char* self, const CommandLine& cl, const Profile& profile,
                                               const std::string& tmp_out) {
  std::vector<std::string> gb_args = {self};
  for (const std::string& a : cl.benchmark_args) {
    if (a.rfind("--benchmark_out=", 0) == 0) gb_args.push_back("--benchmark_out=" + (g_results_fd >= 0 ? fd_path(g_results_fd) : tmp_out));
    else gb_args.push_back(a);
  }
  if (!cl.has_min_time) gb_args.push_back("--benchmark_min_time=" + std::to_string(profile.min_time_s));
  return gb_args;
}

// The network floor to rank 1's host, or a warning saying why there is none.
std::optional<NetFloor> measure_net_floor_or_warn(std::vector<std::string>& warnings, const char* when) {
  std::string why;
  std::optional<NetFloor> f = mpi::measure_net_floor(why);
  if (!f) warnings.push_back(std::string("no network floor at the ") + when + " of the run: " + why);
  return f;
}

// The ipcmeter object of the results file, made once when the last benchmark has run: the
// floors are measured again there, so drift over the run shows.
EndOfRun end_of_run_reporter(const CommandLine& cl, const Profile& profile, const std::vector<std::string>& warnings,
                             nlohmann::json peer_env) {
  auto meta = std::make_shared<std::optional<nlohmann::json>>();
  return [&cl, &profile, warnings, meta, env = environment_fingerprint(), peer_env]() -> const nlohmann::json& {
    const Suite& s = suite();
    if (!*meta) {
      const auto t0 = std::chrono::steady_clock::now();
      leave_current_family();  // what the last family held is released before the floors
      Floors floors_end = measure_floors(s.placement, profile.sizes, cl.floors);
      std::vector<std::string> net_warnings;
      if (mpi::world().peer_remote) floors_end.net = measure_net_floor_or_warn(net_warnings, "end");
      run_times().floors_end_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::vector<std::string> all = warnings;
      for (std::string& w : net_warnings) all.push_back(std::move(w));
      if (cl.floors == FloorScope::kAll) warn_if_busy("at the end of", all);
      for (std::string& w : drift_warnings(s.floors_start, floors_end, kFloorDriftWarn)) all.push_back(std::move(w));
      for (std::string& w : python_warnings()) all.push_back(std::move(w));
      const nlohmann::json schema = describe();
      *meta = nlohmann::json{
          {"schema_version", kSchemaVersion},
          {"profile", std::string(profile.name)},
          {"env", env},
          {"floors", to_json(s.floors_start)},
          {"floors_end", to_json(floors_end)},
          {"placement", to_json(s.placement)},
          // ipcmeter.transports is the schema's transport table (the contract's fields and more).
          {"transports", schema["transports"]},
          {"schema", schema},
          // The interpreters the py_* rows ran in, as probed at the start (bench/py/python.h).
          {"python", python_json()},
          {"calibration_delay_ns", cl.calibration_delay_ns},
          {"calibration_delay_filter", cl.calibration_delay_filter.empty()
                                           ? nlohmann::json(nullptr)
                                           : nlohmann::json(cl.calibration_delay_filter)},
          {"warnings", all},
          // What the kernel let the link rows count, and why not where it did not.
          {"kernel_counters", kernel_counters_json()},
          {"seconds", run_times().to_json()},
          // The RouDi the iceoryx rows ran through, and whether ipcmeter started it.
          {"iceoryx", iceoryx_json()},
      };
      // Rows across machines (an MPI launch whose rank 1 runs on another host): that host's env.
      if (!peer_env.is_null()) (**meta)["peer_env"] = peer_env;
    }
    return **meta;
  };
}

// Moves the finished temporary results file into place: only a complete file, flushed to disk,
// may replace anything at the target path.
int publish_results(const std::string& tmp_out, const CommandLine& cl, std::size_t ran) {
  if (ran == 0) {
    std::remove(tmp_out.c_str());
    std::fprintf(stderr, "ipcmeter: no benchmark ran; %s not written\n", cl.out_path.c_str());
    return kExitFailed;
  }
  // Flush to disk before the rename, so a crash cannot leave a renamed but empty file.
  bool synced = false;
  if (FILE* f = std::fopen(tmp_out.c_str(), "r+")) {
    synced = fsync(fileno(f)) == 0;
    synced = std::fclose(f) == 0 && synced;
  }
  // Google Benchmark ignores write errors (a full disk leaves a truncated file), so the file
  // is parsed before it may replace anything at the target path.
  bool complete = false;
  if (synced && cl.out_format == "json") {
    std::ifstream in(tmp_out);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    complete = is_complete_results_json(text);
  } else {
    complete = synced;
  }
  if (!complete) {
    std::fprintf(stderr, "ipcmeter: cannot write results to %s: the file came out incomplete (disk full?); %s left as it was\n",
                 tmp_out.c_str(), cl.out_path.c_str());
    std::remove(tmp_out.c_str());
    return kExitFailed;
  }
  if (std::rename(tmp_out.c_str(), cl.out_path.c_str()) != 0) {
    std::fprintf(stderr, "ipcmeter: cannot move results into %s: %s\n", cl.out_path.c_str(), std::strerror(errno));
    std::remove(tmp_out.c_str());
    return kExitFailed;
  }
  forget_object(NameSpace::kFile, tmp_out);
  return 0;
}

// --mpi: refused with one line unless mpirun started exactly two ranks (checked from mpirun's
// environment, before MPI is initialised, so a plain run never makes a singleton MPI world).
// Rank 1 then serves the mpi rows and exits; rank 0 returns to run the suite, and tells rank 1
// to quit on every way out of main.
void enter_mpi_world(int& argc, char**& argv) {
  const mpi::LaunchEnv env = mpi::launch_env();
  if (!env.under_mpirun) usage_error("--mpi: not started by mpirun; run mpirun -np 2 build/ipcmeter --mpi");
  if (env.world_size != 2) {
    // Rank 0 alone says why (usage_error).
    usage_error("--mpi needs exactly two ranks (mpirun -np 2 build/ipcmeter --mpi); this launch has " +
                std::to_string(env.world_size));
  }
  if (const std::string why = mpi::init(&argc, &argv); !why.empty()) usage_error(why);
  if (mpi::world().rank != 0) std::exit(mpi::serve_peer());
  std::atexit([] { mpi::finish(); });
}

}  // namespace
}  // namespace ipcm

int main(int argc, char** argv) {
  using namespace ipcm;
  run_role_if_requested(argc, argv);

  CommandLine cl;
  std::string error;
  if (!parse_command_line(argc, argv, cl, error)) usage_error(error);
  if (cl.help) {
    std::cout << usage();
    return 0;
  }
  if (cl.describe) {
    std::cout << describe().dump(2) << "\n";
    return 0;
  }
  if (cl.mpi) enter_mpi_world(argc, argv);
  const Profile& profile = *find_profile(cl.profile);

  // Registration first: a filter that selects nothing is bad input, refused before anything
  // is measured or written.
  Suite& s = configure_suite(cl, profile);
  // The py_* families probe their interpreters when they register.
  set_python_paths(cl.python);
  set_python_min_time(cl.min_time_s);
  register_all_families(profile, s.placement);

  const std::size_t selected = count_selected(cl.filter);
  if (selected == 0) usage_error("--benchmark_filter=" + cl.filter + ": matches no benchmark (see --benchmark_list_tests)");

  const std::string tmp_out = open_temporary_results(cl);
  // Whatever path leads out of main from here (an early return, Google Benchmark's own exit)
  // leaves no recorded object behind; the signal handlers cover the other ways out.
  std::atexit([] { remove_recorded_objects(); });

  install_cleanup_handlers();
  install_peer_signals();
  if (cl.iceoryx_use_running) set_iceoryx_mode(IceoryxMode::kUseRunning);
  if (!cl.list_only) {
    // What a SIGKILLed run's RouDi left, only when that RouDi is dead (harness/transports/roudi.h).
    for (const std::string& gone : sweep_stale_roudi())
      std::fprintf(stderr, "ipcmeter: removed %s, left by a RouDi that ipcmeter started and is no longer alive\n", gone.c_str());
    for (const std::string& gone : sweep_stale_objects())
      std::fprintf(stderr, "ipcmeter: removed %s, left by a run that is no longer alive\n", gone.c_str());
  }
  raise_msgqueue_limit();
  TickClock::get();

  const int parent_cpu = parent_cpu_of(s.placement);
  if (parent_cpu >= 0) pin_this_thread(parent_cpu);
  // Timed after pinning, on the CPU the delay will run on.
  const double loops_per_ns = cl.calibration_delay_ns > 0 ? busy_loop_per_ns() : 0;
  s.calibration_delay_loops = std::uint64_t(std::llround(double(cl.calibration_delay_ns) * loops_per_ns));

  std::vector<std::string> warnings;
  if (!cl.list_only) {
    // A witness run (--floors=c2c_rtt) has no busy check either: its two windows would be
    // most of the run, and it judges no row.
    if (cl.floors == FloorScope::kAll) warn_if_busy("at the start of", warnings);
    const auto t0 = std::chrono::steady_clock::now();
    s.floors_start = measure_floors(s.placement, profile.sizes, cl.floors);
    if (mpi::world().peer_remote) s.floors_start.net = measure_net_floor_or_warn(warnings, "start");
    run_times().floors_start_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  if (cl.calibration_delay_ns > 0) warnings.push_back(calibration_warning(cl, loops_per_ns));

  // Rank 1 on another host: its environment, recorded beside this host's.
  nlohmann::json peer_env = nullptr;
  if (mpi::world().peer_remote && !cl.list_only) peer_env = mpi::peer_env();
  EndOfRun end = end_of_run_reporter(cl, profile, warnings, peer_env);

  std::vector<std::string> gb_args = google_benchmark_args(argv[0], cl, profile, tmp_out);
  std::vector<char*> gb_argv;
  for (std::string& a : gb_args) gb_argv.push_back(a.data());
  int gb_argc = int(gb_argv.size());
  gb_argv.push_back(nullptr);
  benchmark::Initialize(&gb_argc, gb_argv.data());
  if (benchmark::ReportUnrecognizedArguments(gb_argc, gb_argv.data())) return kExitUsage;

  std::unique_ptr<benchmark::BenchmarkReporter> display;
  if (cl.display_format == "console") {
    int opts = benchmark::ConsoleReporter::OO_Defaults;
    if (!cl.color) opts &= ~benchmark::ConsoleReporter::OO_Color;
    if (cl.tabular) opts |= benchmark::ConsoleReporter::OO_Tabular;
    display = std::make_unique<ConsoleWithSummary>(benchmark::ConsoleReporter::OutputOptions(opts), selected, end);
  }
  std::unique_ptr<benchmark::BenchmarkReporter> file;
  if (!tmp_out.empty() && cl.out_format == "json") file = std::make_unique<JsonWithIpcmeter>(end);

  run_times().start();
  const std::size_t ran = benchmark::RunSpecifiedBenchmarks(display.get(), file.get());
  benchmark::Shutdown();
  if (cl.list_only) return 0;
  // The console summary shows the warnings; with another display format they go to stderr.
  if (!display) {
    for (const auto& w : end()["warnings"]) std::fprintf(stderr, "ipcmeter: warning: %s\n", w.get<std::string>().c_str());
  }

  if (!tmp_out.empty()) return publish_results(tmp_out, cl, ran);
  return 0;
}
