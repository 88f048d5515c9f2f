#include "tun_to_udp.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include "ipv4.h"
#include "segment.h"
#include "udp_batch.h"

namespace dgram {

namespace {

constexpr size_t kReadSlots = 64;
constexpr size_t kReadSize = sizeof(VirtioNetHdr) + 65535;
// A read is only started with room for the most segments a 64 KiB super-packet can become
// (the kernel's minimum MSS is 48 bytes).
constexpr size_t kMaxSegmentsPerRead = 65535 / 48 + 1;
constexpr size_t kArenaSlots = 8192;

class Sender {
 public:
  Sender(const PathContext& context, Counters& counters)
      : context_(context), counters_(counters), buffers_(new uint8_t[kReadSlots * kReadSize]), arena_(kArenaSlots), batch_(context, counters) {
    packets_.reserve(kArenaSlots + kReadSlots);
  }

  void run() {
    while (waitFor(context_, context_.tunFd, POLLIN)) {
      // Keep reading without polling again while the device has packets, as Flannel's proxy does.
      bool drained = false;
      while (!drained && !context_.stopping->load(std::memory_order_relaxed)) {
        drained = readRound();
        batch_.send(packets_);
      }
    }
  }

 private:
  // Reads until the device is empty (true) or the round is full (false).
  bool readRound() {
    table_ = context_.peers->load();
    arena_.reset();
    packets_.clear();
    for (size_t slot = 0; slot < kReadSlots && arena_.available() >= kMaxSegmentsPerRead; slot++) {
      uint8_t* buffer = buffers_.get() + slot * kReadSize;
      ssize_t length = read(context_.tunFd, buffer, kReadSize);
      if (length < 0) {
        if (errno == EINTR) continue;
        // A deleted device leaves the fd readable with an error forever: don't spin on it
        // (the backend notices the device is gone and opens a new data plane).
        if (errno != EAGAIN) pauseAfterError(context_);
        return true;
      }
      handle(buffer, static_cast<size_t>(length));
    }
    return false;
  }

  void handle(uint8_t* buffer, size_t length) {
    VirtioNetHdr hdr = {};
    if (context_.vnetHdr) {
      if (length < sizeof hdr) return counters_.add(kMalformed, 1);
      memcpy(&hdr, buffer, sizeof hdr);
      buffer += sizeof hdr;
      length -= sizeof hdr;
    }
    uint8_t* packet = buffer;
    // The kernel also sends its own IPv6 chatter (router solicitations, MLD) into a TUN with
    // IPv6 on: Flannel's wire carries IPv4 only. Not a drop worth a warning: counted apart.
    if (length > 0 && (packet[0] >> 4) == 6) return counters_.add(kTunRxNotIpv4, 1);
    size_t packetLength = validIpv4Length(packet, length);
    if (packetLength == 0) return counters_.add(kMalformed, 1);
    const bool superPacket = (hdr.gsoType & ~kVnetGsoEcn) != kVnetGsoNone;
    size_t segments = 1;
    if (superPacket && (segments = tcpSegmentCount(hdr, packet, packetLength)) == 0) return counters_.add(kMalformed, 1);
    counters_.add(kTunRxPackets, segments);
    counters_.add(kTunRxBytes, superPacket ? packetLength + (segments - 1) * superPacketHeadLength(packet) : packetLength);
    // Flannel's order: the route first (none: ICMP net unreachable), then the TTL.
    uint32_t destination = ipDestination(packet);
    uint32_t peer = 0;
    if ((destination & context_.ownMask) == context_.ownNetwork || !table_->nextHop(destination, &peer)) {
      counters_.add(kNoPeer, segments);
      return replyNetUnreachable(packet, packetLength);
    }
    if (!decrementTtl(packet)) return counters_.add(kTtlExpired, segments);
    if (superPacket) return splitTcpSuperPacket(hdr, packet, packetLength, peer, arena_, packets_);
    if ((hdr.flags & kVnetNeedsCsum) != 0 && !completeChecksum(hdr, packet, packetLength)) return counters_.add(kMalformed, 1);
    packets_.push_back({packet, static_cast<uint32_t>(packetLength), nullptr, 0, peer});
  }

  void replyNetUnreachable(const uint8_t* packet, size_t length) {
    uint8_t reply[128];
    size_t replyLength = buildNetUnreachable(packet, length, context_.tunAddress, reply);
    if (replyLength == 0) return;
    VirtioNetHdr hdr = {};
    struct iovec iov[2] = {{&hdr, sizeof hdr}, {reply, replyLength}};
    ssize_t result = context_.vnetHdr ? writev(context_.tunFd, iov, 2) : writev(context_.tunFd, iov + 1, 1);
    if (result < 0) counters_.add(kTunWriteError, 1);
  }

  const PathContext& context_;
  Counters& counters_;
  std::unique_ptr<uint8_t[]> buffers_;
  HeaderArena arena_;
  std::shared_ptr<const PeerTable> table_;
  std::vector<OutPacket> packets_;
  UdpBatchSender batch_;
};

}  // namespace

void runTunToUdp(const PathContext& context, Counters& counters) {
  auto sender = std::make_unique<Sender>(context, counters);
  sender->run();
}

}  // namespace dgram
