// The mpi rows of the pingpong and stream families: pingpong/transport:mpi_sm/peer:mpi_local/…
// and the rest of the matrix around them (harness/mpi/mpi_link.h says why MPI ranks are a
// table of their own). Each family appends these rows to its own, so the names, keys and
// counters are the family's.
#pragma once

#include <vector>

#include "bench/family.h"

namespace ipcm {

// The launcher's peer kinds, then the MPI peers: the peers --describe lists.
Words peer_names_with_mpi();

// link_keys() with the MPI transports and peers among the values.
std::vector<KeyDef> link_keys_with_mpi();

// Registers, for the pingpong ("pingpong") or stream ("stream") family: every MPI transport x
// MPI peer x profile size (run when this launch can, else listed with the reason), and the
// matrix's other corners — each registry transport with each MPI peer, each MPI transport with
// each launcher peer — listed with the sentence why they cannot run.
void add_mpi_link_rows(const Profile& p, const char* family);

// The MPI transports' entries for --describe's transport table (the registry's fields).
nlohmann::json mpi_transports_json();

}  // namespace ipcm
