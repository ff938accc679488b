// `ipcmeter --describe`: the suite's own account of what it measures — each family's keys in
// name order with the values they take, its counters with unit, direction and which are
// primary, the profiles, peer kinds and transports. The same object is written into every
// results file as ipcmeter.schema, so tools read these facts from the binary (or the file)
// instead of keeping lists of their own.
#pragma once

#include <nlohmann/json.hpp>

namespace ipcm {

// Bumped when a field changes meaning or goes away; additions keep it.
inline constexpr int kDescribeVersion = 1;

nlohmann::json describe();

}  // namespace ipcm
