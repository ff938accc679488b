// Every benchmark family's registration, called by main once the profile is known.
#pragma once

#include "harness/env.h"
#include "harness/profile.h"

namespace ipcm {

void register_floor_family(const Placement& p);
void register_pingpong_family(const Profile& p);
void register_stream_family(const Profile& p);

}  // namespace ipcm
