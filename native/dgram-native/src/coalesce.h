// The receiving side's TUN writes. With IFF_VNET_HDR, consecutive segments of one TCP flow are
// merged back into one GSO super-packet (virtio_net_hdr gso_type TCPV4, partial checksum) and
// written with a single writev: the kernel then forwards or delivers 64 KiB at a time, as its own
// GRO would have done for a kernel tunnel. Rules as tcp_gro_receive's: same addresses, ports,
// TTL, TOS, DF, ACK, window and options; contiguous sequence numbers; every segment the size of
// the first but the last; only ACK (and PSH, which ends the group) set. Each merged segment's
// TCP checksum is verified first: the kernel recomputes the super-packet's, which would
// otherwise launder a corrupt segment. Without a vnet header every packet is one write().
#pragma once
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "path_context.h"
#include "tun_device.h"

namespace dgram {

class TunWriter {
 public:
  TunWriter(int fd, bool vnetHdr, Counters& counters);
  // Queues a valid IPv4 packet (TTL already handled) of exactly `length` bytes; it must stay
  // in place until flush() (the end of the receive batch).
  void add(uint8_t* packet, size_t length);
  void flush();

 private:
  bool canStartGroup(const uint8_t* packet, size_t length) const;
  bool canJoinGroup(const uint8_t* packet, size_t length) const;
  void writeGroup();
  void writeSingle(uint8_t* packet, size_t length);
  void written(bool success, uint64_t packets, uint64_t bytes);

  int fd_;
  bool vnetHdr_;
  Counters& counters_;
  // The open group: its first packet whole, then the payloads of the segments that joined.
  uint8_t* first_ = nullptr;
  size_t firstLength_ = 0;
  size_t headLength_ = 0;
  size_t gsoSize_ = 0;
  size_t totalLength_ = 0;
  uint32_t nextSeq_ = 0;
  uint8_t lastFlags_ = 0;
  bool closed_ = false;
  uint64_t segments_ = 0;
  std::vector<struct iovec> iov_;
};

}  // namespace dgram
