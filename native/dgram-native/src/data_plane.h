// One data plane: the TUN device, the UDP socket, the peer table and the two packet threads
// (TUN → UDP and UDP → TUN), from open to close. Packets never reach JavaScript. With more than
// one queue, flannel0 is a multi-queue TUN and each queue has its own UDP socket on the port
// (SO_REUSEPORT) and its own pair of threads: the kernel keeps each flow on one queue and each
// peer on one socket, so no flow is reordered. A lock (an abstract unix socket, which belongs to
// the network namespace and goes with the process) keeps a second data plane off the device,
// which a multi-queue TUN and a shared port would otherwise let in.
#pragma once
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "path_context.h"
#include "peer_table.h"
#include "sys_error.h"
#include "tun_device.h"
#include "udp_socket.h"

namespace dgram {

struct DataPlaneConfig {
  std::string tunName;
  uint32_t bindAddress;  // host byte order, as every address here
  uint16_t port;
  uint32_t ownNetwork;
  uint8_t ownPrefixLength;
  bool offloads;
  bool persist;
  int queues;  // 1 (Flannel's single TUN queue) to kMaxQueues
};

constexpr int kMaxQueues = 16;

struct Features {
  bool vnetHdr;
  bool tunOffload;
  bool udpGso;
  bool udpGro;
  int threads;
};

class DataPlane {
 public:
  // Opens the device and the socket and starts the threads; on failure nothing is left open.
  static SysError open(const DataPlaneConfig& config, std::unique_ptr<DataPlane>* out);
  ~DataPlane() { close(); }
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  const Features& features() const { return features_; }
  void setPeers(const std::vector<PeerRoute>& routes);
  // Sums of every thread's counters, in Counter order.
  void readCounters(double* out) const;
  // Stops and joins the threads, then closes every fd. Idempotent.
  void close();

 private:
  DataPlane() = default;
  SysError start();
  struct ThreadStart {
    DataPlane* plane;
    int queue;
  };
  static void* runTunToUdp(void* start);
  static void* runUdpToTun(void* start);

  int lockFd_ = -1;
  std::vector<TunDevice> tuns_;
  std::vector<UdpSocket> udps_;
  int stopFd_ = -1;
  std::atomic<bool> stopping_{false};
  PeerTableSlot peers_;
  std::vector<PathContext> contexts_;  // one per queue
  Features features_ = {};
  std::unique_ptr<Counters[]> counters_;  // two per queue: TUN → UDP, then UDP → TUN
  std::vector<ThreadStart> starts_;
  std::vector<pthread_t> threads_;
  bool closed_ = false;
};

}  // namespace dgram
