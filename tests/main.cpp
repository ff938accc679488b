// The test binary is also a peer: the launcher spawns /proc/self/exe in a role, so this main
// dispatches the roles first, as ipcmeter's does.
#include <gtest/gtest.h>

#include "harness/core/clock.h"
#include "harness/core/names.h"
#include "harness/launch/launcher.h"

int main(int argc, char** argv) {
  ipcm::run_role_if_requested(argc, argv);
  ipcm::install_peer_signals();
  ipcm::install_cleanup_handlers();
  ipcm::TickClock::get();
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
