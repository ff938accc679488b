#include "bench/py/python.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

#include "harness/core/names.h"
#include "harness/launch/launcher.h"

#ifndef IPCM_PY_DRIVER_SOURCE
#define IPCM_PY_DRIVER_SOURCE ""
#endif

namespace ipcm {
namespace {

constexpr const char* kDriverName = "ipcmeter_driver.py";
constexpr const char* kShmDir = "/dev/shm";
// A driver's stderr beyond this is dropped from the front: the end says what went wrong.
constexpr std::size_t kMaxStderr = 16u << 10;
constexpr std::size_t kStderrInReason = 300;
constexpr auto kProbeLimit = std::chrono::seconds(10);
constexpr auto kReapLimit = std::chrono::seconds(2);
constexpr auto kPollSlice = std::chrono::milliseconds(20);

// The probe: what ipcmeter.python records, and the cost of one perf_counter_ns read (the
// median gap between back-to-back reads), printed as one JSON object on the descriptor named
// by argv[1].
constexpr const char* kProbeScript = R"PY(
import json, os, platform, sys, sysconfig, time
c = time.perf_counter_ns
gaps = []
for _ in range(20001):
    a = c(); b = c(); gaps.append(b - a)
gaps.sort()
gil = getattr(sys, "_is_gil_enabled", None)
os.write(int(sys.argv[1]), json.dumps({
    "executable": sys.executable, "version": platform.python_version(),
    "implementation": sys.implementation.name, "gil_enabled": gil() if gil else True,
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "abiflags": getattr(sys, "abiflags", ""), "timer_ns": gaps[len(gaps) // 2],
    "version_info": list(sys.version_info[:3])}).encode())
)PY";

std::vector<std::string> g_paths;
double g_min_time = -1;

struct Captured {
  std::string out, err;
  int status = -1;
  bool timed_out = false;
};

// Reads what is there (non-blocking); false at EOF.
bool read_some(int fd, std::string& into, std::size_t cap) {
  char buf[65536];
  const ssize_t n = read(fd, buf, sizeof buf);
  if (n == 0) return false;
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  into.append(buf, std::size_t(n));
  if (into.size() > cap) into.erase(0, into.size() - cap);
  return true;
}

// Kills the driver's process group (it leads one: stragglers such as a manager or the fork
// server go with it) while the driver's pid is still ours, then reaps the driver.
void end_group(pid_t pid, bool kill_leader, Captured& c) {
  kill(-pid, SIGKILL);
  if (kill_leader) kill(pid, SIGKILL);
  reap_child(pid, std::chrono::steady_clock::now() + kReapLimit, c.status);
}

// Runs `python args...` with `out_w` inherited (its number is in args already) and stderr
// captured; collects what it writes on out until it ends or `limit` passes.
Status capture(const std::string& python, const std::vector<std::string>& args, int out_fds[2],
               std::chrono::milliseconds limit, Captured& c, std::string& why) {
  int err_fds[2];
  if (pipe2(err_fds, O_CLOEXEC) != 0) {
    why = sys_error("pipe2");
    close(out_fds[0]);
    close(out_fds[1]);
    return Status::Closed("could not start the interpreter");
  }
  std::vector<std::string> argv = {python};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = launch_program(python, argv, {out_fds[1]}, err_fds[1], why);
  close(out_fds[1]);
  close(err_fds[1]);
  if (pid < 0) {
    close(out_fds[0]);
    close(err_fds[0]);
    return Status::Closed("could not start the interpreter");
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool out_open = true, err_open = true;
  auto pump = [&](int timeout_ms) {
    // A closed pipe is left out (poll would report its EOF again at once).
    pollfd p[2] = {{out_open ? out_fds[0] : -1, POLLIN, 0}, {err_open ? err_fds[0] : -1, POLLIN, 0}};
    if (poll(p, 2, timeout_ms) <= 0) return;
    if (out_open && p[0].revents) out_open = read_some(out_fds[0], c.out, SIZE_MAX);
    if (err_open && p[1].revents) err_open = read_some(err_fds[0], c.err, kMaxStderr);
  };
  // Until both pipes close or the driver ends (its forked children may still hold them).
  while ((out_open || err_open) && !ended_status(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      c.timed_out = true;
      break;
    }
    pump(int(kPollSlice.count()));
  }
  end_group(pid, c.timed_out, c);
  // Every writer is gone now: what is left in the pipes is read to EOF.
  const auto drained_by = std::chrono::steady_clock::now() + kReapLimit;
  while ((out_open || err_open) && std::chrono::steady_clock::now() < drained_by) pump(int(kPollSlice.count()));
  close(out_fds[0]);
  close(err_fds[0]);
  return Status::Ok();
}

std::string stderr_tail(const std::string& err) {
  std::string t = err.size() > kStderrInReason ? "..." + err.substr(err.size() - kStderrInReason) : err;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t.empty() ? "" : " (stderr: " + t + ")";
}

// Removes /dev/shm entries whose names start with `prefix` (shared memory) or "sem." + prefix
// (named semaphores): this user's regular files only, never through a symlink.
void remove_objects_named(const std::string& prefix) {
  DIR* d = opendir(kShmDir);
  if (!d) return;
  const std::string sem = "sem." + prefix;
  const uid_t me = geteuid();
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(prefix, 0) != 0 && name.rfind(sem, 0) != 0) continue;
    struct stat st;
    const std::string path = std::string(kShmDir) + "/" + name;
    if (lstat(path.c_str(), &st) == 0 && st.st_uid == me && S_ISREG(st.st_mode)) unlink(path.c_str());
  }
  closedir(d);
}

PythonInterp probe(const std::string& path) {
  PythonInterp py;
  py.path = path;
  py.info = {{"path", path}};
  int out[2];
  std::string why;
  Captured c;
  if (pipe2(out, O_CLOEXEC) != 0) {
    py.error = sys_error("pipe2");
  } else if (!capture(path, {"-I", "-c", kProbeScript, std::to_string(out[1])}, out, kProbeLimit, c, why)) {
    py.error = why;
  } else if (c.timed_out) {
    py.error = "did not answer its probe within " + std::to_string(kProbeLimit.count()) + " s";
  } else if (c.status != 0) {
    py.error = (WIFEXITED(c.status) && WEXITSTATUS(c.status) == 127 ? std::string("cannot be executed")
                                                                       : describe_wait_status(c.status)) +
               stderr_tail(c.err);
  } else {
    const nlohmann::json j = nlohmann::json::parse(c.out, nullptr, false);
    if (!j.is_object() || !j.contains("version")) {
      py.error = "its probe printed no description" + stderr_tail(c.err);
    } else {
      py.info.update(j);
      py.major = j["version_info"][0].get<int>();
      py.minor = j["version_info"][1].get<int>();
      py.key = j["version"].get<std::string>() + j["abiflags"].get<std::string>();
      if (py.info["implementation"] != "cpython") py.error = "is " + py.info["implementation"].get<std::string>() + ", not CPython";
    }
  }
  if (!py.error.empty()) py.error = "python " + path + " " + py.error;
  py.info["error"] = py.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(py.error);
  return py;
}

}  // namespace

void set_python_paths(std::vector<std::string> paths) { g_paths = std::move(paths); }

const std::vector<PythonInterp>& python_interpreters() {
  static const std::vector<PythonInterp> all = [] {
    std::vector<PythonInterp> v;
    std::map<std::string, int> seen;
    for (const std::string& p : g_paths.empty() ? std::vector<std::string>{kDefaultPython} : g_paths) {
      PythonInterp py = probe(p);
      if (py.key.empty()) py.key = "none";  // an interpreter that could not say its version
      // Two interpreters of one version (a debug and a release build, the same one twice)
      // stay apart: the second is 3.11.2_2.
      if (const int n = ++seen[py.key]; n > 1) py.key.append("_").append(std::to_string(n));
      py.info["name"] = py.key;
      v.push_back(std::move(py));
    }
    return v;
  }();
  return all;
}

nlohmann::json python_json() {
  nlohmann::json j = nlohmann::json::array();
  for (const PythonInterp& py : python_interpreters()) j.push_back(py.info);
  return j;
}

namespace {
constexpr double kMaxTimerShare = 0.02;
std::mutex g_p50_mutex;
std::map<std::string, double> g_smallest_p50;  // by interpreter key
}  // namespace

void note_python_p50(const PythonInterp& py, double p50_ns) {
  std::lock_guard lock(g_p50_mutex);
  auto [it, fresh] = g_smallest_p50.emplace(py.key, p50_ns);
  if (!fresh && p50_ns < it->second) it->second = p50_ns;
}

std::vector<std::string> python_warnings() {
  std::lock_guard lock(g_p50_mutex);
  std::vector<std::string> out;
  for (const PythonInterp& py : python_interpreters()) {
    const auto it = g_smallest_p50.find(py.key);
    if (it == g_smallest_p50.end() || !py.info.contains("timer_ns")) continue;
    const double timer = py.info["timer_ns"].get<double>();
    if (timer > kMaxTimerShare * it->second) {
      char w[256];
      std::snprintf(w, sizeof w, "python %s: one perf_counter_ns read costs %.0f ns, more than 2%% of its smallest p50 (%.0f ns)",
                    py.key.c_str(), timer, it->second);
      out.push_back(w);
    }
  }
  return out;
}

std::string driver_path() {
  const std::string exe = self_exe();
  const std::string beside = exe.substr(0, exe.rfind('/') + 1) + kDriverName;
  if (access(beside.c_str(), R_OK) == 0) return beside;
  if (access(IPCM_PY_DRIVER_SOURCE, R_OK) == 0) return IPCM_PY_DRIVER_SOURCE;
  return "";
}

Made<DriverOutput> run_driver(const PythonInterp& py, nlohmann::json spec, std::chrono::milliseconds limit) {
  if (!py.error.empty()) return Made<DriverOutput>::Fail(py.error);
  const std::string driver = driver_path();
  if (driver.empty()) return Made<DriverOutput>::Fail(std::string("the driver ") + kDriverName + " is neither beside the binary nor in its source tree");
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Made<DriverOutput>::Fail(sys_error("pipe2"));
  const std::string prefix = unique_name("py");
  // Recorded so that an interrupt removes the block; the semaphores, whose names the driver's
  // multiprocessing picks, go with the prefix below or with the next run's sweep.
  const std::string shm = "/" + prefix + "-shm";
  record_object(NameSpace::kShm, shm);
  spec["prefix"] = prefix;
  spec["out_fd"] = out[1];
  Captured c;
  std::string why;
  const Status st = capture(py.path, {"-I", driver, spec.dump()}, out, limit, c, why);
  remove_objects_named(prefix);
  forget_object(NameSpace::kShm, shm);
  if (!st) return Made<DriverOutput>::Fail(why);
  if (c.timed_out)
    return Made<DriverOutput>::Fail("the Python driver did not finish within " + std::to_string(limit.count()) +
                                    " ms; its process group was killed" + stderr_tail(c.err));
  const std::size_t nl = c.out.find('\n');
  nlohmann::json header = nl == std::string::npos ? nlohmann::json() : nlohmann::json::parse(c.out.substr(0, nl), nullptr, false);
  if (!header.is_object()) {
    return Made<DriverOutput>::Fail("the Python driver " + describe_wait_status(c.status) + " without an answer" +
                                    stderr_tail(c.err));
  }
  if (header["ok"] != true)
    return Made<DriverOutput>::Fail("python: " + (header["error"].is_string() ? header["error"].get<std::string>() : std::string("no reason given")));
  if (c.status != 0) return Made<DriverOutput>::Fail("the Python driver " + describe_wait_status(c.status) + stderr_tail(c.err));
  if (!header["samples"].is_number_unsigned()) return Made<DriverOutput>::Fail("the Python driver's answer has no sample count");
  const std::size_t n = header["samples"].get<std::size_t>();
  if (c.out.size() - nl - 1 != n * sizeof(std::int64_t))
    return Made<DriverOutput>::Fail("the Python driver announced " + std::to_string(n) + " samples and sent " +
                                    std::to_string(c.out.size() - nl - 1) + " bytes");
  auto res = std::make_unique<DriverOutput>();
  res->header = std::move(header);
  res->samples.resize(n);
  if (n) std::memcpy(res->samples.data(), c.out.data() + nl + 1, n * sizeof(std::int64_t));
  return Made<DriverOutput>{std::move(res), ""};
}

void set_python_min_time(double seconds) { g_min_time = seconds; }
double python_min_time(double profile_min_time) { return g_min_time > 0 ? g_min_time : profile_min_time; }

}  // namespace ipcm
