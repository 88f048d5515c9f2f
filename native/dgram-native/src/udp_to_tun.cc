#include "udp_to_tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <vector>

#include "coalesce.h"
#include "ipv4.h"

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace dgram {

namespace {

constexpr size_t kMessages = 64;
constexpr size_t kMessageSize = 65536;  // a GRO message holds up to 64 KiB
constexpr size_t kControlSize = 64;

class Receiver {
 public:
  Receiver(const PathContext& context, Counters& counters)
      : context_(context),
        counters_(counters),
        buffers_(new uint8_t[kMessages * kMessageSize]),
        writer_(context.tunFd, context.vnetHdr, counters),
        headers_(kMessages),
        iov_(kMessages),
        addresses_(kMessages),
        controls_(kMessages * kControlSize) {}

  void run() {
    while (waitFor(context_, context_.udpFd, POLLIN)) {
      for (;;) {
        if (context_.stopping->load(std::memory_order_relaxed)) return;
        prepare();
        int received = recvmmsg(context_.udpFd, headers_.data(), kMessages, MSG_DONTWAIT, nullptr);
        if (received < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN) pauseAfterError(context_);
          break;
        }
        table_ = context_.peers->load();
        for (int m = 0; m < received; m++) handleMessage(headers_[m]);
        writer_.flush();
        if (static_cast<size_t>(received) < kMessages) break;  // drained
      }
    }
  }

 private:
  void prepare() {
    for (size_t m = 0; m < kMessages; m++) {
      iov_[m] = {buffers_.get() + m * kMessageSize, kMessageSize};
      struct msghdr& header = headers_[m].msg_hdr;
      header = {};
      header.msg_name = &addresses_[m];
      header.msg_namelen = sizeof addresses_[m];
      header.msg_iov = &iov_[m];
      header.msg_iovlen = 1;
      header.msg_control = &controls_[m * kControlSize];
      header.msg_controllen = kControlSize;
    }
  }

  void handleMessage(struct mmsghdr& message) {
    struct msghdr& header = message.msg_hdr;
    uint8_t* data = static_cast<uint8_t*>(header.msg_iov->iov_base);
    size_t length = message.msg_len;
    size_t segmentSize = length;
    for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr; cmsg = CMSG_NXTHDR(&header, cmsg)) {
      if (cmsg->cmsg_level == SOL_UDP && cmsg->cmsg_type == UDP_GRO) {
        int size = 0;
        memcpy(&size, CMSG_DATA(cmsg), sizeof size);
        if (size > 0) segmentSize = static_cast<size_t>(size);
      }
    }
    if ((header.msg_flags & MSG_TRUNC) != 0 || length == 0) return counters_.add(kMalformed, 1);
    const uint32_t peer = ntohl(static_cast<struct sockaddr_in*>(header.msg_name)->sin_addr.s_addr);
    // Every datagram of a GRO message comes from the same sender.
    for (size_t offset = 0; offset < length; offset += segmentSize) {
      const size_t size = length - offset < segmentSize ? length - offset : segmentSize;
      handleDatagram(peer, data + offset, size);
    }
  }

  void handleDatagram(uint32_t peer, uint8_t* packet, size_t length) {
    counters_.add(kUdpRxPackets, 1);
    counters_.add(kUdpRxBytes, length);
    // The sender first: a non-peer learns nothing from how its payload would have been judged.
    if (!table_->knowsPeer(peer)) return counters_.add(kUnknownSource, 1);
    // Exactly one IPv4 packet per datagram (Flannel's wire), with a header that checks out.
    if (validIpv4Length(packet, length) != length || !ipHeaderChecksumValid(packet)) return counters_.add(kMalformed, 1);
    if (table_->checkSource(peer, ipSource(packet)) != SourceCheck::kAccepted) return counters_.add(kSpoofedSource, 1);
    if (!decrementTtl(packet)) return counters_.add(kTtlExpired, 1);
    writer_.add(packet, length);
  }

  const PathContext& context_;
  Counters& counters_;
  std::unique_ptr<uint8_t[]> buffers_;
  TunWriter writer_;
  std::shared_ptr<const PeerTable> table_;
  std::vector<struct mmsghdr> headers_;
  std::vector<struct iovec> iov_;
  std::vector<struct sockaddr_in> addresses_;
  std::vector<uint8_t> controls_;
};

}  // namespace

void runUdpToTun(const PathContext& context, Counters& counters) {
  auto receiver = std::make_unique<Receiver>(context, counters);
  receiver->run();
}

}  // namespace dgram
