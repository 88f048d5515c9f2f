// The sending side's socket work: a round of packets leaves in as few sendmmsg calls as
// possible. With UDP_SEGMENT, consecutive packets to one peer that share a size (a shorter last
// one allowed) go as one message that the kernel cuts into datagrams, up to 64 per message;
// where the kernel refuses that offload the packets go again one datagram each.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>

#include <vector>

#include "path_context.h"
#include "segment.h"

namespace dgram {

class UdpBatchSender {
 public:
  UdpBatchSender(const PathContext& context, Counters& counters) : context_(context), counters_(counters), gso_(context.udpGso) {}
  // Sends every packet (or counts it as a send error); returns early only when the data plane stops.
  void send(const std::vector<OutPacket>& packets);

 private:
  struct Message {
    size_t firstPacket;
    size_t packetCount;
    uint64_t bytes;
  };
  struct Control {
    alignas(struct cmsghdr) uint8_t bytes[CMSG_SPACE(sizeof(uint16_t))];
  };

  void buildMessages(const std::vector<OutPacket>& packets, size_t from, bool useGso);

  const PathContext& context_;
  Counters& counters_;
  bool gso_;  // turned off for good when the egress device cannot checksum (EIO)
  std::vector<Message> messages_;
  std::vector<struct iovec> iov_;
  std::vector<struct mmsghdr> headers_;
  std::vector<struct sockaddr_in> addresses_;
  std::vector<Control> controls_;
};

}  // namespace dgram
