// The transport registry: one line per transport. Adding a line here puts the transport in
// every family, every test and every report.
#include "harness/transport.h"

namespace ipcm {

extern const TransportDef kPipeTransport;
extern const TransportDef kSocketpairTransport;
extern const TransportDef kFifoTransport;
extern const TransportDef kTcpTransport;
extern const TransportDef kPosixMqTransport;
extern const TransportDef kBipMqTransport;
extern const TransportDef kTbbQueueTransport;
extern const TransportDef kShmRingTransport;

const std::vector<const TransportDef*>& transports() {
  static const std::vector<const TransportDef*> all = {
      &kPipeTransport,     &kSocketpairTransport, &kFifoTransport,      &kTcpTransport,
      &kPosixMqTransport,  &kBipMqTransport,      &kTbbQueueTransport,  &kShmRingTransport,
  };
  return all;
}

}  // namespace ipcm
