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
// offloads are probed when `tryOffloads` and left off where the kernel refuses them. With
// `reusePort` (a socket per queue) several bind the same port and the kernel spreads senders
// over them by address and port, so that each peer's datagrams keep to one socket, in order.
SysError openUdpSocket(uint32_t address, uint16_t port, bool tryOffloads, bool reusePort, UdpSocket* out);

}  // namespace dgram
