// What py_pingpong and py_stream share: the channel and peer names, which combinations cannot
// run and why, what each profile sweeps, and one row's run of the driver. The families'
// bench files (bench/py/py_*_bench.cpp) turn the samples into counters.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "bench/family.h"
#include "bench/py/python.h"
#include "harness/core/profile.h"

namespace ipcm {

enum class PyFamily { kPingpong, kStream };
const char* py_family_name(PyFamily f);  // "pingpong" / "stream", as the driver names them

// The contract's channel and peer names, in its order.
const Words& py_channels();
const Words& py_peers();

// Why this combination cannot run in `py` ("" when it can): a channel the family or the peer
// kind does not offer, an interpreter too old or not usable.
std::string py_why_not(PyFamily f, const std::string& channel, const std::string& peer, const PythonInterp& py);

struct PySweep {
  Words channels;
  Words peers;
  std::vector<std::size_t> sizes;
};
const PySweep& py_sweep(PyFamily f, const Profile& p);
nlohmann::json py_sweep_json(PyFamily f, const Profile& p);

// The keys both families have: channel, peer, size, python (the interpreters of the run:
// values decided by --python, so the schema lists none).
std::vector<KeyDef> py_link_keys(PyFamily f);

struct PyRow {
  PyFamily family;
  std::string channel, peer;
  std::size_t size;
  const PythonInterp* python;
  std::string name() const;  // "py_pingpong/channel:Queue/peer:fork/size:64/python:3.11.2"
};

// Untimed messages before the timed ones, and the bounds on the timed ones.
inline constexpr int kPyWarmup = 64;
inline constexpr std::uint64_t kPyMinMsgs = 50;
inline constexpr std::uint64_t kPyMaxMsgs = 2'000'000;

// One row: the driver runs for `budget_s` of timed messages (at least kPyMinMsgs); the row
// ends within peer_timeout() plus twice the budget, whatever the interpreter does.
// `fault` is for tests ("kill_peer", "corrupt"), "" otherwise.
Made<DriverOutput> run_py_row(const PyRow& row, double budget_s, const std::string& fault = "");

// py_spawn: starts by start method `peer` from a driver holding `rss_mib` MiB of written
// ballast, for `budget_s` (at least `min_starts`, at most `max_starts`); samples alternate
// ready, lifecycle. Each start may take up to a second beyond the budget before the row ends.
Made<DriverOutput> run_py_spawn(const std::string& peer, std::size_t rss_mib, const PythonInterp& py, double budget_s,
                                std::uint64_t min_starts, std::uint64_t max_starts);

}  // namespace ipcm
