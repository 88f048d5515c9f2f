#include "tun_device.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace dgram {

static int attach(int fd, const std::string& name, short flags) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = flags;
  memcpy(ifr.ifr_name, name.data(), name.size());
  return ioctl(fd, TUNSETIFF, &ifr);
}

// The device's queue toward its reader is txqueuelen packets (500 by default for a TUN): a
// burst from a fast sender overflows it while the reader is between polls, and the kernel drops
// the excess. A longer queue costs only pointers; an administrator's longer setting is kept.
static void raiseQueueLength(const std::string& name) {
  constexpr int kQueueLength = 8192;
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name.data(), name.size());
  if (ioctl(sock, SIOCGIFTXQLEN, &ifr) == 0 && ifr.ifr_qlen < kQueueLength) {
    ifr.ifr_qlen = kQueueLength;
    ioctl(sock, SIOCSIFTXQLEN, &ifr);
  }
  close(sock);
}

SysError openTun(const std::string& name, bool tryOffloads, bool persist, bool multiQueue, TunDevice* out) {
  // The kernel would silently truncate a long name and attach to another device.
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('\0') != std::string::npos) return failed("TUNSETIFF", EINVAL);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return failed("open", errno);
  TunDevice tun;
  tun.fd = fd;
  const short base = IFF_TUN | IFF_NO_PI | (multiQueue ? IFF_MULTI_QUEUE : 0);
  if (tryOffloads && attach(fd, name, base | IFF_VNET_HDR) == 0) {
    tun.vnetHdr = true;
  } else if (attach(fd, name, base) != 0) {
    int error = errno;
    close(fd);
    return failed("TUNSETIFF", error);
  }
  if (tun.vnetHdr) {
    // A persistent device keeps the header size an earlier user set: say which one we speak.
    int size = sizeof(VirtioNetHdr);
    if (ioctl(fd, TUNSETVNETHDRSZ, &size) != 0) {
      int error = errno;
      close(fd);
      return failed("TUNSETVNETHDRSZ", error);
    }
    tun.tunOffload = ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(TUN_F_CSUM | TUN_F_TSO4)) == 0;
  } else {
    // Offloads an earlier run enabled on a persistent device would hand us super-packets we
    // could not read without the header. Clearing is refused only where they never existed.
    ioctl(fd, TUNSETOFFLOAD, 0UL);
  }
  if (ioctl(fd, TUNSETPERSIST, persist ? 1UL : 0UL) != 0) {
    int error = errno;
    close(fd);
    return failed("TUNSETPERSIST", error);
  }
  raiseQueueLength(name);
  *out = tun;
  return ok();
}

}  // namespace dgram
