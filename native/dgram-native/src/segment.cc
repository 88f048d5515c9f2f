#include "segment.h"

#include <arpa/inet.h>

#include <cstring>

#include "ipv4.h"

namespace dgram {

constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpCwr = 0x80;

static size_t tcpHeaderLength(const uint8_t* tcp) { return static_cast<size_t>(tcp[12] >> 4) * 4; }

size_t tcpSegmentCount(const VirtioNetHdr& hdr, const uint8_t* packet, size_t length) {
  if ((hdr.gsoType & ~kVnetGsoEcn) != kVnetGsoTcpv4 || ipProtocol(packet) != kProtoTcp || hdr.gsoSize == 0) return 0;
  size_t ipLength = ipHeaderLength(packet);
  if (ipLength + 20 > length) return 0;
  size_t headLength = ipLength + tcpHeaderLength(packet + ipLength);
  if (tcpHeaderLength(packet + ipLength) < 20 || headLength > length || headLength > HeaderArena::kSlotSize) return 0;
  size_t payload = length - headLength;
  return payload == 0 ? 1 : (payload + hdr.gsoSize - 1) / hdr.gsoSize;
}

size_t superPacketHeadLength(const uint8_t* packet) {
  return ipHeaderLength(packet) + tcpHeaderLength(packet + ipHeaderLength(packet));
}

void splitTcpSuperPacket(const VirtioNetHdr& hdr, const uint8_t* packet, size_t length, uint32_t peer, HeaderArena& arena,
                         std::vector<OutPacket>& out) {
  const size_t ipLength = ipHeaderLength(packet);
  const size_t tcpLength = tcpHeaderLength(packet + ipLength);
  const size_t headLength = ipLength + tcpLength;
  const size_t payload = length - headLength;
  const size_t mss = hdr.gsoSize;
  const size_t count = payload == 0 ? 1 : (payload + mss - 1) / mss;
  const uint16_t firstId = load16(packet + 4);
  const uint32_t firstSeq = load32(packet + ipLength + 4);
  const uint8_t flags = packet[ipLength + 13];
  for (size_t i = 0; i < count; i++) {
    const size_t offset = i * mss;
    const size_t size = payload - offset < mss ? payload - offset : mss;
    uint8_t* head = arena.take();
    memcpy(head, packet, headLength);
    store16(head + 2, static_cast<uint16_t>(headLength + size));
    store16(head + 4, static_cast<uint16_t>(firstId + i));  // as the kernel's GSO numbers segments
    setIpHeaderChecksum(head);
    uint8_t* tcp = head + ipLength;
    store32(tcp + 4, firstSeq + static_cast<uint32_t>(offset));
    // FIN and PSH belong to the last segment, CWR to the first (RFC 3168), as in tcp_gso_segment.
    uint8_t segmentFlags = flags;
    if (i + 1 < count) segmentFlags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (i > 0) segmentFlags &= static_cast<uint8_t>(~kTcpCwr);
    tcp[13] = segmentFlags;
    tcp[16] = tcp[17] = 0;
    Checksum sum;
    sum.add(head + 12, 8);  // pseudo-header: source and destination
    sum.add16(htons(kProtoTcp));
    sum.add16(htons(static_cast<uint16_t>(tcpLength + size)));
    sum.add(tcp, tcpLength);
    sum.add(packet + headLength + offset, size);
    uint16_t value = sum.finish();
    memcpy(tcp + 16, &value, 2);
    out.push_back({head, static_cast<uint32_t>(headLength), packet + headLength + offset, static_cast<uint32_t>(size), peer});
  }
}

bool completeChecksum(const VirtioNetHdr& hdr, uint8_t* packet, size_t length) {
  const size_t start = hdr.csumStart, field = static_cast<size_t>(hdr.csumStart) + hdr.csumOffset;
  if (start >= length || field + 2 > length) return false;
  Checksum sum;
  sum.add(packet + start, length - start);
  uint16_t value = sum.finish();
  // UDP sends a computed 0 as all ones (0 means "no checksum"), RFC 768.
  if (value == 0 && ipProtocol(packet) == kProtoUdp) value = 0xffff;
  memcpy(packet + field, &value, 2);
  return true;
}

}  // namespace dgram
