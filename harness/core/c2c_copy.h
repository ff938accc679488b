// The cross-core copy floor: how fast one core reads, at a given message size, data that
// another pinned core has just written. A stream between two cores can do no better (each
// message is written on one CPU and read on the other), so stream rows report ratio_to_floor
// against it; ratio_to_memcpy (one core copying its own hot data) stays beside it, and is the
// looser bound.
#pragma once

#include <cstddef>
#include <map>
#include <span>

namespace ipcm {

// GB/s (bytes per ns). One batch: a partner pinned to writer_cpu writes a window of messages
// of `bytes` (as many as a ring of the stream's window holds, within the link memory budget),
// then the calling thread, pinned to reader_cpu, copies them all out; only that copy is
// timed. Both sides of the ratio are bytes over elapsed time; the floor is the median of 11
// such batches, so one preempted batch does not lower it. NaN if a thread cannot be pinned
// or the buffers cannot be had. Always measures; the first result per size is kept.
double measure_c2c_copy_gbps(std::size_t bytes, int reader_cpu, int writer_cpu);

// The first measured result for this size (measuring it now if there is none), so every
// stream row of a run divides by the same reference.
double c2c_copy_gbps(std::size_t bytes, int reader_cpu, int writer_cpu);

// Every size measured so far, with the reference kept for it.
std::map<std::size_t, double> c2c_copy_sizes_measured();

}  // namespace ipcm
