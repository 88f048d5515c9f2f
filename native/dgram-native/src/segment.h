// The sending side's offload work: what a TUN read with a virtio_net_hdr returned, turned into
// the packets a Flannel peer expects — whole IPv4 packets of at most the MTU, checksums complete.
// A TSO super-packet (up to 64 KiB of one TCP flow) is cut at the MSS the kernel chose, the way
// the kernel's own GSO (and wireguard-go's tun offload) does: per segment the IP length, id and
// checksum, and the TCP sequence number, flags and checksum are rewritten. Payloads are not
// copied: a segment is its rewritten headers (in a HeaderArena) plus a slice of the read buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tun_device.h"

namespace dgram {

// One IPv4 packet to put on the wire: `head`, then `body` (empty unless cut from a super-packet).
struct OutPacket {
  const uint8_t* head;
  uint32_t headLength;
  const uint8_t* body;
  uint32_t bodyLength;
  uint32_t peer;  // public IP, host byte order
  uint32_t length() const { return headLength + bodyLength; }
};

// Room for rewritten segment headers (IPv4 ≤ 60 + TCP ≤ 60 bytes each), reused batch after batch.
class HeaderArena {
 public:
  static constexpr size_t kSlotSize = 128;
  explicit HeaderArena(size_t slots) : storage_(new uint8_t[slots * kSlotSize]), slots_(slots) {}
  size_t available() const { return slots_ - used_; }
  uint8_t* take() { return storage_.get() + kSlotSize * used_++; }
  void reset() { used_ = 0; }

 private:
  std::unique_ptr<uint8_t[]> storage_;
  size_t slots_;
  size_t used_ = 0;
};

// How many wire packets a super-packet of `length` bytes becomes; 0 when it cannot be cut
// (not TCP over IPv4, headers that do not fit, no MSS).
size_t tcpSegmentCount(const VirtioNetHdr& hdr, const uint8_t* packet, size_t length);

// The IPv4 + TCP header length every segment of a (counted) super-packet repeats.
size_t superPacketHeadLength(const uint8_t* packet);

// Cuts a TSO super-packet into segments appended to `out`; the caller checked tcpSegmentCount
// and that the arena has that many slots.
void splitTcpSuperPacket(const VirtioNetHdr& hdr, const uint8_t* packet, size_t length, uint32_t peer, HeaderArena& arena,
                         std::vector<OutPacket>& out);

// A single packet whose checksum the kernel left to us (VIRTIO_NET_HDR_F_NEEDS_CSUM: the field
// holds the pseudo-header sum; the rest from csum_start must be added). False when the offsets
// do not fit the packet.
bool completeChecksum(const VirtioNetHdr& hdr, uint8_t* packet, size_t length);

}  // namespace dgram
