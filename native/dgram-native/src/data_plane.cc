#include "data_plane.h"

#include <errno.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tun_to_udp.h"
#include "udp_to_tun.h"

namespace dgram {

const char* const kCounterNames[kCounterCount] = {
    "tunRxPackets", "tunRxBytes", "udpTxPackets", "udpTxBytes", "udpRxPackets", "udpRxBytes", "tunTxPackets", "tunTxBytes",
    "noPeer", "unknownSource", "spoofedSource", "ttlExpired", "malformed", "tunWriteError", "udpSendError",
    "tunRxNotIpv4",
};

SysError DataPlane::open(const DataPlaneConfig& config, std::unique_ptr<DataPlane>* out) {
  std::unique_ptr<DataPlane> plane(new DataPlane());
  // The socket first: a port in use then fails before a device was created.
  if (SysError error = openUdpSocket(config.bindAddress, config.port, config.offloads, &plane->udp_)) return error;
  if (SysError error = openTun(config.tunName, config.offloads, config.persist, &plane->tun_)) return error;  // ~DataPlane closes the socket
  plane->stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (plane->stopFd_ < 0) return failed("eventfd", errno);
  const uint32_t ownMask = prefixMask(config.ownPrefixLength);
  plane->context_ = {plane->tun_.fd,    plane->tun_.vnetHdr, plane->tun_.tunOffload,  plane->udp_.fd,
                     plane->udp_.gso,   plane->udp_.gro,     config.port,             config.ownNetwork & ownMask,
                     config.ownNetwork & ownMask,            ownMask,                 plane->stopFd_,
                     &plane->stopping_, &plane->peers_};
  plane->features_ = {plane->tun_.vnetHdr, plane->tun_.tunOffload, plane->udp_.gso, plane->udp_.gro, 2};
  if (SysError error = plane->start()) return error;
  *out = std::move(plane);
  return ok();
}

SysError DataPlane::start() {
  // The threads take no signals: Node's handlers belong to its own threads.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  void* (*bodies[2])(void*) = {runTunToUdp, runUdpToTun};
  int error = 0;
  for (int i = 0; i < 2 && error == 0; i++) {
    error = pthread_create(&threads_[i], nullptr, bodies[i], this);
    if (error == 0) startedThreads_++;
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return error == 0 ? ok() : failed("pthread_create", error);
}

void* DataPlane::runTunToUdp(void* self) {
  DataPlane* plane = static_cast<DataPlane*>(self);
  pthread_setname_np(pthread_self(), "flannel-tun-udp");
  dgram::runTunToUdp(plane->context_, plane->counters_[0]);
  return nullptr;
}

void* DataPlane::runUdpToTun(void* self) {
  DataPlane* plane = static_cast<DataPlane*>(self);
  pthread_setname_np(pthread_self(), "flannel-udp-tun");
  dgram::runUdpToTun(plane->context_, plane->counters_[1]);
  return nullptr;
}

void DataPlane::setPeers(const std::vector<PeerRoute>& routes) { peers_.store(std::make_shared<const PeerTable>(routes)); }

void DataPlane::readCounters(double* out) const {
  for (int c = 0; c < kCounterCount; c++)
    out[c] = static_cast<double>(counters_[0].values[c].load(std::memory_order_relaxed) + counters_[1].values[c].load(std::memory_order_relaxed));
}

void DataPlane::close() {
  if (closed_) return;
  closed_ = true;
  stopping_.store(true);
  if (stopFd_ >= 0) {
    uint64_t one = 1;
    (void)!write(stopFd_, &one, sizeof one);
  }
  for (int i = 0; i < startedThreads_; i++) pthread_join(threads_[i], nullptr);
  startedThreads_ = 0;
  if (stopFd_ >= 0) ::close(stopFd_);
  if (tun_.fd >= 0) ::close(tun_.fd);
  if (udp_.fd >= 0) ::close(udp_.fd);
  stopFd_ = tun_.fd = udp_.fd = -1;
}

}  // namespace dgram
