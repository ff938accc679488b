// The transport registry: one line per transport. Adding a line here puts the transport in
// every family, every test and every report, in this order.
#include "harness/transports/transport.h"

// Each line both declares the transport's definition (made in its own file) and lists it, so
// a new transport is its file plus one line here.
#define IPCM_EACH_TRANSPORT(X) \
  X(kPipeTransport)            \
  X(kSocketpairTransport)      \
  X(kFifoTransport)            \
  X(kTcpTransport)             \
  X(kPosixMqTransport)         \
  X(kBipMqTransport)           \
  X(kTbbQueueTransport)        \
  X(kShmRingTransport)         \
  X(kIceoryxTransport)         \
  X(kZmqIpcTransport)          \
  X(kZmqTcpTransport)          \
  X(kZmqInprocTransport)       \
  X(kNngIpcTransport)

namespace ipcm {

#define IPCM_DECLARE(def) extern const TransportDef def;
IPCM_EACH_TRANSPORT(IPCM_DECLARE)
#undef IPCM_DECLARE

const std::vector<const TransportDef*>& transports() {
#define IPCM_LIST(def) &def,
  static const std::vector<const TransportDef*> all = {IPCM_EACH_TRANSPORT(IPCM_LIST)};
#undef IPCM_LIST
  return all;
}

}  // namespace ipcm
