// Registers the rows of py_sync or py_state: every interpreter x what the profile sweeps x peer x
// party count, each timed by `run` as one iteration. Included by the two families' bench files
// only (add_benchmark lives in the binary).
#pragma once

#include <benchmark/benchmark.h>

#include "bench/py/py_parties.h"
#include "bench/suite.h"

namespace ipcm {

inline void add_py_parties_rows(PyPartiesFamily f, const Profile& p,
                                void (*run)(benchmark::State&, const PyPartiesRow&)) {
  const PyPartiesSweep& sw = py_parties_sweep(f, p);
  for (const PythonInterp& py : python_interpreters())
    for (const std::string& what : sw.what)
      for (const std::string& peer : sw.peers)
        // Only the locks, and every state access, also run with one party (py_party_counts).
        for (int n : py_party_counts(sw, f == PyPartiesFamily::kState || py_sync_is_lock(what))) {
          const PyPartiesRow row{f, what, peer, n, &py};
          add_benchmark(row.name(), [row, run](benchmark::State& st) { run(st, row); }, true, 1)
              ->Unit(benchmark::kNanosecond);
        }
}

}  // namespace ipcm
