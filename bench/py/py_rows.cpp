#include "bench/py/py_rows.h"

#include "harness/core/limits.h"

namespace ipcm {
namespace {

// The oldest interpreter the driver runs in: multiprocessing.shared_memory came with 3.8.
constexpr int kMinMajor = 3, kMinMinor = 8;

// quick: the three channels most programs choose between, across the two start methods that
// differ most, at one size (the quick subset, seconds in all); default: every channel
// and peer at 64 B and 64 KiB; full adds sizes from 8 B to 1 MiB.
Words quick_channels() { return {"Queue", "Pipe", "shared_memory"}; }
Words quick_peers() { return {"fork", "spawn"}; }

const ByProfile<PySweep>& sweeps(PyFamily f) {
  static const ByProfile<PySweep> pingpong = {
      {"quick", {quick_channels(), quick_peers(), {64}}},
      {"default", {py_channels(), py_peers(), {64, 64u << 10}}},
      {"full", {py_channels(), py_peers(), {8, 64, 1u << 10, 16u << 10, 64u << 10, 1u << 20}}},
  };
  static const ByProfile<PySweep> stream = pingpong;
  return f == PyFamily::kPingpong ? pingpong : stream;
}

}  // namespace

const char* py_family_name(PyFamily f) { return f == PyFamily::kPingpong ? "pingpong" : "stream"; }

const Words& py_channels() {
  static const Words w = {"Queue",         "SimpleQueue",   "JoinableQueue", "Pipe",       "Pipe_bytes",
                          "Pipe_simplex",  "shared_memory", "Manager_Queue", "queue_Queue"};
  return w;
}

const Words& py_peers() {
  static const Words w = {"thread", "fork", "spawn", "forkserver"};
  return w;
}

std::string py_why_not(PyFamily f, const std::string& channel, const std::string& peer, const PythonInterp& py) {
  if (channel == "queue_Queue" && peer != "thread") return "queue.Queue connects threads of one process only";
  if (channel == "JoinableQueue" && f == PyFamily::kPingpong)
    return "JoinableQueue is measured in streams only (task_done/join is a stream's acknowledgement)";
  if (!py.error.empty()) return py.error;
  if (py.major < kMinMajor || (py.major == kMinMajor && py.minor < kMinMinor))
    return "python " + py.path + " is " + py.key + ": the driver needs " + std::to_string(kMinMajor) + "." +
           std::to_string(kMinMinor) + " (multiprocessing.shared_memory)";
  return "";
}

const PySweep& py_sweep(PyFamily f, const Profile& p) { return sweeps(f).of(p); }

nlohmann::json py_sweep_json(PyFamily f, const Profile& p) {
  const PySweep& s = py_sweep(f, p);
  return {{"channel", s.channels}, {"peer", s.peers}, {"size", s.sizes}};
}

template <PyFamily F>
nlohmann::json swept_channels(const Profile& p) {
  return py_sweep(F, p).channels;
}
template <PyFamily F>
nlohmann::json swept_peers(const Profile& p) {
  return py_sweep(F, p).peers;
}
template <PyFamily F>
nlohmann::json swept_sizes(const Profile& p) {
  return py_sweep(F, p).sizes;
}

std::vector<KeyDef> py_link_keys(PyFamily f) {
  const bool pp = f == PyFamily::kPingpong;
  return {{"channel", Unit::kName, [] { return py_channels(); }, pp ? swept_channels<PyFamily::kPingpong> : swept_channels<PyFamily::kStream>},
          {"peer", Unit::kName, [] { return py_peers(); }, pp ? swept_peers<PyFamily::kPingpong> : swept_peers<PyFamily::kStream>},
          {"size", Unit::kBytes, nullptr, pp ? swept_sizes<PyFamily::kPingpong> : swept_sizes<PyFamily::kStream>},
          // The run's interpreters (--python): no fixed list, so every profile says null.
          {"python", Unit::kName, nullptr, [](const Profile&) { return nlohmann::json(nullptr); }}};
}

std::string PyRow::name() const {
  return std::string("py_") + py_family_name(family) + "/channel:" + channel + "/peer:" + peer +
         "/size:" + std::to_string(size) + "/python:" + python->key;
}

Made<DriverOutput> run_py_row(const PyRow& row, double budget_s, const std::string& fault) {
  if (std::string why = py_why_not(row.family, row.channel, row.peer, *row.python); !why.empty())
    return Made<DriverOutput>::Fail(why);
  nlohmann::json spec = {{"family", py_family_name(row.family)},
                         {"channel", row.channel},
                         {"peer", row.peer},
                         {"size", row.size},
                         {"warmup", kPyWarmup},
                         {"budget_ns", std::uint64_t(budget_s * 1e9)},
                         {"min_msgs", kPyMinMsgs},
                         {"max_msgs", kPyMaxMsgs}};
  if (!fault.empty()) spec["fault"] = fault;
  const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(peer_timeout()) +
                     std::chrono::milliseconds(std::int64_t(2e3 * budget_s));
  return run_driver(*row.python, std::move(spec), limit);
}

Made<DriverOutput> run_py_spawn(const std::string& peer, std::size_t rss_mib, const PythonInterp& py, double budget_s,
                                std::uint64_t min_starts, std::uint64_t max_starts) {
  if (!py.error.empty()) return Made<DriverOutput>::Fail(py.error);
  if (std::string why = py_why_not(PyFamily::kPingpong, "Pipe", peer, py); !why.empty()) return Made<DriverOutput>::Fail(why);
  nlohmann::json spec = {{"family", "spawn"},         {"peer", peer},
                         {"rss_mib", rss_mib},        {"budget_ns", std::uint64_t(budget_s * 1e9)},
                         {"min_msgs", min_starts},    {"max_msgs", max_starts}};
  const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(peer_timeout()) +
                     std::chrono::milliseconds(std::int64_t(2e3 * budget_s)) + std::chrono::seconds(min_starts);
  return run_driver(py, std::move(spec), limit);
}

}  // namespace ipcm
