// The TUN device (flannel0): created, or re-attached when a previous run left it persistent.
#pragma once
#include <cstdint>
#include <string>

#include "sys_error.h"

namespace dgram {

// struct virtio_net_hdr, which precedes every packet read or written once IFF_VNET_HDR is on.
// TUN uses the host's byte order for it (we never call TUNSETVNETLE/BE).
struct VirtioNetHdr {
  uint8_t flags;
  uint8_t gsoType;
  uint16_t hdrLen;
  uint16_t gsoSize;
  uint16_t csumStart;
  uint16_t csumOffset;
};
static_assert(sizeof(VirtioNetHdr) == 10, "virtio_net_hdr is 10 bytes");
constexpr uint8_t kVnetNeedsCsum = 1;
constexpr uint8_t kVnetGsoNone = 0;
constexpr uint8_t kVnetGsoTcpv4 = 1;
constexpr uint8_t kVnetGsoEcn = 0x80;

struct TunDevice {
  int fd = -1;
  bool vnetHdr = false;     // reads and writes carry a VirtioNetHdr
  bool tunOffload = false;  // the kernel may hand us TCP super-packets with partial checksums
};

// Opens /dev/net/tun and attaches `name` with IFF_TUN | IFF_NO_PI (Flannel's flags), trying
// IFF_VNET_HDR + TUNSETOFFLOAD(CSUM | TSO4) when `tryOffloads`, each dropped if refused.
// `persist` sets TUNSETPERSIST either way, so a device left persistent by an earlier run stops
// being so when asked. The fd is non-blocking. With `multiQueue` the device is made (or must
// have been made) with IFF_MULTI_QUEUE, and each call attaches one more queue; `vnetHdr` then
// says whether the queues before it speak the header, as every queue of a device must alike.
SysError openTun(const std::string& name, bool tryOffloads, bool persist, bool multiQueue, TunDevice* out);

}  // namespace dgram
