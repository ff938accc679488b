// The test binary is also a peer: Session spawns /proc/self/exe, so this main dispatches the
// peer role first, as ipcmeter's does.
#include <gtest/gtest.h>

#include "harness/clock.h"
#include "harness/names.h"
#include "harness/peer.h"

int main(int argc, char** argv) {
  ipcm::peer_main_if_requested(argc, argv);
  ipcm::install_peer_signals();
  ipcm::install_cleanup_handlers();
  ipcm::TickClock::get();
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
