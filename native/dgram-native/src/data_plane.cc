#include "data_plane.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <net/if.h>
#include <sys/un.h>
#include <unistd.h>

#include "tun_to_udp.h"
#include "udp_to_tun.h"

namespace dgram {

const char* const kCounterNames[kCounterCount] = {
    "tunRxPackets", "tunRxBytes", "udpTxPackets", "udpTxBytes", "udpRxPackets", "udpRxBytes", "tunTxPackets", "tunTxBytes",
    "noPeer", "unknownSource", "spoofedSource", "ttlExpired", "malformed", "tunWriteError", "udpSendError",
    "tunRxNotIpv4",
};

// Held for the data plane's life: a second one in this network namespace fails here with
// EADDRINUSE before it touches the device or the port.
static SysError lockDevice(const std::string& tunName, int* out) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return failed("socket(lock)", errno);
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  const std::string name = "flannel-ts dgram-native " + tunName;
  // Abstract: a leading NUL, no file, gone with the last fd (and so with the process).
  memcpy(address.sun_path + 1, name.data(), name.size());
  socklen_t length = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + name.size());
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&address), length) != 0) {
    int error = errno;
    ::close(fd);
    return failed("lock", error);
  }
  *out = fd;
  return ok();
}

SysError DataPlane::open(const DataPlaneConfig& config, std::unique_ptr<DataPlane>* out) {
  if (config.queues < 1 || config.queues > kMaxQueues) return failed("queues", EINVAL);
  // The name goes into the lock's address too: refused here as openTun would refuse it.
  if (config.tunName.empty() || config.tunName.size() >= IFNAMSIZ || config.tunName.find('\0') != std::string::npos) return failed("TUNSETIFF", EINVAL);
  std::unique_ptr<DataPlane> plane(new DataPlane());
  if (SysError error = lockDevice(config.tunName, &plane->lockFd_)) return error;
  const bool multiQueue = config.queues > 1;
  // The sockets first: a port in use then fails before a device was created. ~DataPlane closes
  // whatever was opened when a later step fails.
  for (int q = 0; q < config.queues; q++) {
    UdpSocket udp;
    if (SysError error = openUdpSocket(config.bindAddress, config.port, config.offloads, multiQueue, &udp)) return error;
    plane->udps_.push_back(udp);
  }
  for (int q = 0; q < config.queues; q++) {
    TunDevice tun;
    // Every queue speaks as the first one does: offloads are tried only where it has them.
    const bool tryOffloads = q == 0 ? config.offloads : plane->tuns_[0].vnetHdr;
    if (SysError error = openTun(config.tunName, tryOffloads, config.persist, multiQueue, &tun)) return error;
    plane->tuns_.push_back(tun);
    if (tun.vnetHdr != plane->tuns_[0].vnetHdr) return failed("TUNSETIFF", EINVAL);
  }
  plane->stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (plane->stopFd_ < 0) return failed("eventfd", errno);
  const uint32_t ownMask = prefixMask(config.ownPrefixLength);
  bool gso = true, gro = true;
  for (const UdpSocket& udp : plane->udps_) {
    gso = gso && udp.gso;
    gro = gro && udp.gro;
  }
  for (int q = 0; q < config.queues; q++) {
    const TunDevice& tun = plane->tuns_[q];
    const UdpSocket& udp = plane->udps_[q];
    plane->contexts_.push_back({tun.fd, tun.vnetHdr, tun.tunOffload, udp.fd, udp.gso, udp.gro, config.port, config.ownNetwork & ownMask,
                                config.ownNetwork & ownMask, ownMask, plane->stopFd_, &plane->stopping_, &plane->peers_});
  }
  plane->counters_.reset(new Counters[2 * config.queues]);
  plane->features_ = {plane->tuns_[0].vnetHdr, plane->tuns_[0].tunOffload, gso, gro, 2 * config.queues};
  if (SysError error = plane->start()) return error;
  *out = std::move(plane);
  return ok();
}

SysError DataPlane::start() {
  // The threads take no signals: Node's handlers belong to its own threads.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  const int queues = static_cast<int>(contexts_.size());
  // Filled before any thread starts: the threads keep pointers into it.
  for (int q = 0; q < queues; q++) starts_.push_back({this, q});
  int error = 0;
  for (int q = 0; q < queues && error == 0; q++) {
    void* (*bodies[2])(void*) = {runTunToUdp, runUdpToTun};
    for (int i = 0; i < 2 && error == 0; i++) {
      pthread_t thread;
      error = pthread_create(&thread, nullptr, bodies[i], &starts_[q]);
      if (error == 0) threads_.push_back(thread);
    }
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return error == 0 ? ok() : failed("pthread_create", error);
}

void* DataPlane::runTunToUdp(void* start) {
  const ThreadStart* at = static_cast<ThreadStart*>(start);
  pthread_setname_np(pthread_self(), "flannel-tun-udp");
  dgram::runTunToUdp(at->plane->contexts_[at->queue], at->plane->counters_[2 * at->queue]);
  return nullptr;
}

void* DataPlane::runUdpToTun(void* start) {
  const ThreadStart* at = static_cast<ThreadStart*>(start);
  pthread_setname_np(pthread_self(), "flannel-udp-tun");
  dgram::runUdpToTun(at->plane->contexts_[at->queue], at->plane->counters_[2 * at->queue + 1]);
  return nullptr;
}

void DataPlane::setPeers(const std::vector<PeerRoute>& routes) { peers_.store(std::make_shared<const PeerTable>(routes)); }

void DataPlane::readCounters(double* out) const {
  const size_t counters = 2 * contexts_.size();
  for (int c = 0; c < kCounterCount; c++) {
    uint64_t sum = 0;
    for (size_t t = 0; t < counters; t++) sum += counters_[t].values[c].load(std::memory_order_relaxed);
    out[c] = static_cast<double>(sum);
  }
}

void DataPlane::close() {
  if (closed_) return;
  closed_ = true;
  stopping_.store(true);
  if (stopFd_ >= 0) {
    uint64_t one = 1;
    (void)!write(stopFd_, &one, sizeof one);
  }
  for (pthread_t thread : threads_) pthread_join(thread, nullptr);
  threads_.clear();
  if (stopFd_ >= 0) ::close(stopFd_);
  for (TunDevice& tun : tuns_) ::close(tun.fd);
  for (UdpSocket& udp : udps_) ::close(udp.fd);
  tuns_.clear();
  udps_.clear();
  stopFd_ = -1;
  // Last: the device and the port are free before another data plane may take the lock.
  if (lockFd_ >= 0) ::close(lockFd_);
  lockFd_ = -1;
}

}  // namespace dgram
