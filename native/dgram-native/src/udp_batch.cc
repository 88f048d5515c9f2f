#include "udp_batch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/udp.h>
#include <sys/uio.h>

#include <cstring>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace dgram {

namespace {
// Segments of one message (the kernel's UDP_MAX_SEGMENTS is 64 on older kernels) and its bytes
// (one UDP payload of the super-datagram may not exceed 65507).
constexpr size_t kMaxGsoSegments = 64;
constexpr size_t kMaxGsoBytes = 65507;
}  // namespace

// Groups packets[from…] into messages: with GSO, a run of packets to one peer, all the size of
// the first but a shorter last one.
void UdpBatchSender::buildMessages(const std::vector<OutPacket>& packets, size_t from, bool useGso) {
  messages_.clear();
  iov_.clear();
  for (size_t i = from; i < packets.size(); i++) {
    const OutPacket& packet = packets[i];
    if (useGso && !messages_.empty()) {
      Message& last = messages_.back();
      const OutPacket& first = packets[last.firstPacket];
      const OutPacket& previous = packets[i - 1];
      if (first.peer == packet.peer && last.packetCount < kMaxGsoSegments && packet.length() <= first.length() &&
          previous.length() == first.length() && last.bytes + packet.length() <= kMaxGsoBytes) {
        last.packetCount++;
        last.bytes += packet.length();
        continue;
      }
    }
    messages_.push_back({i, 1, packet.length()});
  }
  // iovecs and headers only once the messages are final (the vectors must not move after).
  headers_.resize(messages_.size());
  addresses_.resize(messages_.size());
  controls_.resize(messages_.size());
  size_t iovCount = 0;
  for (const Message& message : messages_)
    for (size_t i = 0; i < message.packetCount; i++) iovCount += packets[message.firstPacket + i].bodyLength != 0 ? 2 : 1;
  iov_.resize(iovCount);
  size_t nextIov = 0;
  for (size_t m = 0; m < messages_.size(); m++) {
    const Message& message = messages_[m];
    struct sockaddr_in& address = addresses_[m];
    address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(packets[message.firstPacket].peer);
    address.sin_port = htons(context_.port);
    struct msghdr& header = headers_[m].msg_hdr;
    header = {};
    header.msg_name = &address;
    header.msg_namelen = sizeof address;
    header.msg_iov = &iov_[nextIov];
    for (size_t i = 0; i < message.packetCount; i++) {
      const OutPacket& packet = packets[message.firstPacket + i];
      iov_[nextIov++] = {const_cast<uint8_t*>(packet.head), packet.headLength};
      if (packet.bodyLength != 0) iov_[nextIov++] = {const_cast<uint8_t*>(packet.body), packet.bodyLength};
    }
    header.msg_iovlen = &iov_[nextIov] - header.msg_iov;
    if (message.packetCount > 1) {
      Control& control = controls_[m];
      memset(&control, 0, sizeof control);
      struct cmsghdr* cmsg = reinterpret_cast<struct cmsghdr*>(control.bytes);
      cmsg->cmsg_level = SOL_UDP;
      cmsg->cmsg_type = UDP_SEGMENT;
      cmsg->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t segmentSize = static_cast<uint16_t>(packets[message.firstPacket].length());
      memcpy(CMSG_DATA(cmsg), &segmentSize, sizeof segmentSize);
      header.msg_control = &control;
      header.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
    }
  }
}

void UdpBatchSender::send(const std::vector<OutPacket>& packets) {
  if (packets.empty()) return;
  buildMessages(packets, 0, gso_);
  size_t sent = 0;
  while (sent < messages_.size()) {
    int result = sendmmsg(context_.udpFd, &headers_[sent], static_cast<unsigned>(messages_.size() - sent), 0);
    if (result > 0) {
      for (size_t m = sent; m < sent + static_cast<size_t>(result); m++) {
        counters_.add(kUdpTxPackets, messages_[m].packetCount);
        counters_.add(kUdpTxBytes, messages_[m].bytes);
      }
      sent += static_cast<size_t>(result);
      continue;
    }
    int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN) {
      if (!waitFor(context_, context_.udpFd, POLLOUT)) return;
      continue;
    }
    const Message failed = messages_[sent];
    if (failed.packetCount > 1 && (error == EIO || error == EINVAL || error == EMSGSIZE)) {
      // The kernel refused the segmentation offload: EIO when the egress device cannot
      // checksum (as wireguard-go learned), which holds for good; otherwise (a segment size
      // over the route's MTU) for this round only. The rest goes again, one datagram each.
      if (error == EIO) gso_ = false;
      buildMessages(packets, failed.firstPacket, false);
      sent = 0;
      continue;
    }
    counters_.add(kUdpSendError, failed.packetCount);
    sent++;
  }
}

}  // namespace dgram
