// What the two packet threads share: the fds, the negotiated offloads, the peer table, the stop
// signal, and a set of counters per thread.
#pragma once
#include <poll.h>

#include <atomic>
#include <cstdint>

#include "peer_table.h"

namespace dgram {

enum Counter {
  kTunRxPackets, kTunRxBytes, kUdpTxPackets, kUdpTxBytes, kUdpRxPackets, kUdpRxBytes, kTunTxPackets, kTunTxBytes,
  kNoPeer, kUnknownSource, kSpoofedSource, kTtlExpired, kMalformed, kTunWriteError, kUdpSendError,
  kTunRxNotIpv4,
  kCounterCount
};
extern const char* const kCounterNames[kCounterCount];

// Written by one thread only, so an add is a plain load and store (no locked instruction per
// packet); readers on the JavaScript thread see each value whole (64-bit atomics).
struct alignas(64) Counters {
  std::atomic<uint64_t> values[kCounterCount] = {};
  void add(Counter counter, uint64_t amount) {
    values[counter].store(values[counter].load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
};

struct PathContext {
  int tunFd;
  bool vnetHdr;
  bool tunOffload;
  int udpFd;
  bool udpGso;
  bool udpGro;
  uint16_t port;             // peers listen on the same port as we do (Flannel: Backend.Port)
  uint32_t tunAddress;       // the own subnet's network address, source of our ICMP replies
  uint32_t ownNetwork;
  uint32_t ownMask;
  int stopFd;                // an eventfd, readable once close() was called
  const std::atomic<bool>* stopping;
  const PeerTableSlot* peers;
};

// Waits until `fd` has `events` or the data plane stops; false when it stops.
inline bool waitFor(const PathContext& context, int fd, short events) {
  for (;;) {
    if (context.stopping->load(std::memory_order_relaxed)) return false;
    struct pollfd fds[2] = {{fd, events, 0}, {context.stopFd, POLLIN, 0}};
    int ready = poll(fds, 2, -1);
    if (ready < 0) continue;  // EINTR
    if (fds[1].revents != 0) return false;
    if (fds[0].revents != 0) return true;
  }
}

// After an error that polling will not clear (a deleted TUN device): wait a little, or until
// the data plane stops, so a thread never spins on it.
inline void pauseAfterError(const PathContext& context) {
  struct pollfd stop = {context.stopFd, POLLIN, 0};
  poll(&stop, 1, 100);
}

}  // namespace dgram
