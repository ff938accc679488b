// What py_sync and py_state share: N parties (threads of the CPython driver, or
// multiprocessing Processes by start method) working on one primitive or one piece of shared
// state (bench/py/ipcmeter_driver.py's run_parties), what each profile sweeps, and one row's
// run of the driver. The families' bench files turn what the driver hands back into the native
// sync and state families' counters.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "bench/family.h"
#include "bench/py/python.h"
#include "harness/core/profile.h"

namespace ipcm {

enum class PyPartiesFamily { kSync, kState };

// The contract's names, in its order: the seven primitives (threading's between threads,
// multiprocessing's between processes) and the six ways to share a counter.
const Words& py_sync_primitives();
const Words& py_state_accesses();
bool py_sync_is_lock(const std::string& primitive);  // Lock, RLock: the only ones with one party

// What a profile sweeps: the words of the first key (primitives or accesses), the peers, and
// the party counts: `fixed` ones plus multiples of the CPUs (at least 2, at most kMaxParties);
// one party for the locks (py_sync) or every access (py_state) when `one_party`.
struct PyPartiesSweep {
  Words what;
  Words peers;
  std::vector<int> fixed;
  std::vector<int> per_cpu;
  bool one_party = false;
};
const PyPartiesSweep& py_parties_sweep(PyPartiesFamily f, const Profile& p);
std::vector<int> py_party_counts(const PyPartiesSweep& sw, bool lock_or_state);
nlohmann::json py_parties_section(PyPartiesFamily f, const Profile& p);

// The first key's values this profile sweeps, and the peers it sweeps (--describe's
// values_by_profile).
nlohmann::json py_sync_swept_primitives(const Profile& p);
nlohmann::json py_state_swept_accesses(const Profile& p);
nlohmann::json py_sync_swept_peers(const Profile& p);
nlohmann::json py_state_swept_peers(const Profile& p);

struct PyPartiesRow {
  PyPartiesFamily family;
  std::string what;  // the primitive or the access
  std::string peer;
  int parties;
  const PythonInterp* python;
  // "py_sync/primitive:Lock/peer:fork/parties:2/python:3.11.2"
  std::string name() const;
};

// A warm-up of this many rounds (ops) first; its pace sizes the timed phase to the budget,
// within these bounds (too few rounds leave no p99 to read; the cap bounds the samples held).
inline constexpr int kPyPartiesWarmup = 64;
inline constexpr std::uint64_t kPyPartiesMinRounds = 100;
inline constexpr std::uint64_t kPyPartiesMaxRounds = 1'000'000;

// One row: the driver runs its warm-up, then about `budget_s` of timed rounds; the row ends
// within peer_timeout() plus twice the budget plus half a second a party (the start of each),
// whatever the interpreter does. `fault` is for tests ("kill_peer"), "" otherwise.
Made<DriverOutput> run_py_parties(const PyPartiesRow& row, double budget_s, const std::string& fault = "");

}  // namespace ipcm
