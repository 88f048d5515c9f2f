// The UDP socket that carries Flannel's wire format: one bare IPv4 packet per datagram.
#pragma once
#include <cstdint>

#include "sys_error.h"

namespace dgram {

struct UdpSocket {
  int fd = -1;
  bool gso = false;  // UDP_SEGMENT: one send carries many equal-sized datagrams
  bool gro = false;  // UDP_GRO: one receive returns many datagrams of one peer, with their size
};

// A non-blocking UDP socket bound to address:port (host byte order), with large buffers; the
// offloads are probed when `tryOffloads` and left off where the kernel refuses them.
SysError openUdpSocket(uint32_t address, uint16_t port, bool tryOffloads, UdpSocket* out);

}  // namespace dgram
