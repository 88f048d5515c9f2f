#include "udp_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace dgram {

// Bursts of 64 KiB super-packets outrun the default buffers (~200 KiB) at multi-Gbit/s.
static void setBuffer(int fd, int forced, int plain, int size) {
  if (setsockopt(fd, SOL_SOCKET, forced, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, plain, &size, sizeof size);
}

SysError openUdpSocket(uint32_t address, uint16_t port, bool tryOffloads, bool reusePort, UdpSocket* out) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return failed("socket", errno);
  UdpSocket udp;
  udp.fd = fd;
  setBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, 8 << 20);
  setBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, 8 << 20);
  int on = 1;
  if (reusePort && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    int error = errno;
    close(fd);
    return failed("setsockopt(SO_REUSEPORT)", error);
  }
  struct sockaddr_in local = {};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(address);
  local.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&local), sizeof local) != 0) {
    int error = errno;
    close(fd);
    return failed("bind", error);
  }
  if (tryOffloads) {
    // UDP_SEGMENT is given per send (a cmsg); reading the option only asks whether it exists.
    int value = 0;
    socklen_t length = sizeof value;
    udp.gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &value, &length) == 0;
    udp.gro = setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) == 0;
  }
  *out = udp;
  return ok();
}

}  // namespace dgram
