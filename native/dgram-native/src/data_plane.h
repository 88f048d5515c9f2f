// One data plane: the TUN device, the UDP socket, the peer table and the two packet threads
// (TUN → UDP and UDP → TUN), from open to close. Packets never reach JavaScript.
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
};

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
  // Sums of both threads' counters, in Counter order.
  void readCounters(double* out) const;
  // Stops and joins the threads, then closes every fd. Idempotent.
  void close();

 private:
  DataPlane() = default;
  SysError start();
  static void* runTunToUdp(void* self);
  static void* runUdpToTun(void* self);

  TunDevice tun_;
  UdpSocket udp_;
  int stopFd_ = -1;
  std::atomic<bool> stopping_{false};
  PeerTableSlot peers_;
  PathContext context_ = {};
  Features features_ = {};
  Counters counters_[2];
  pthread_t threads_[2] = {};
  int startedThreads_ = 0;
  bool closed_ = false;
};

}  // namespace dgram
