#include "coalesce.h"

#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>

#include <cstring>

#include "ipv4.h"

namespace dgram {

constexpr uint8_t kTcpPsh = 0x08, kTcpAck = 0x10;
constexpr size_t kMaxGroupLength = 65535;  // the IPv4 total length field
constexpr size_t kMaxGroupSegments = 64;

static size_t tcpHeaderLength(const uint8_t* tcp) { return static_cast<size_t>(tcp[12] >> 4) * 4; }

static bool tcpChecksumValid(const uint8_t* packet, size_t length) {
  const size_t ipLength = ipHeaderLength(packet);
  Checksum sum;
  sum.add(packet + 12, 8);
  sum.add16(htons(kProtoTcp));
  sum.add16(htons(static_cast<uint16_t>(length - ipLength)));
  sum.add(packet + ipLength, length - ipLength);
  return sum.folded() == 0xffff;
}

TunWriter::TunWriter(int fd, bool vnetHdr, Counters& counters) : fd_(fd), vnetHdr_(vnetHdr), counters_(counters) {
  iov_.reserve(kMaxGroupSegments + 2);
}

bool TunWriter::canStartGroup(const uint8_t* packet, size_t length) const {
  if (!vnetHdr_ || ipProtocol(packet) != kProtoTcp || ipHeaderLength(packet) != 20 || ipIsFragment(packet) || length < 40) return false;
  const uint8_t* tcp = packet + 20;
  const size_t tcpLength = tcpHeaderLength(tcp);
  if (tcpLength < 20 || 20 + tcpLength >= length) return false;  // headers only: nothing to merge
  if ((tcp[13] & ~kTcpPsh) != kTcpAck) return false;
  return tcpChecksumValid(packet, length);
}

bool TunWriter::canJoinGroup(const uint8_t* packet, size_t length) const {
  if (first_ == nullptr || closed_ || segments_ >= kMaxGroupSegments || totalLength_ + length - headLength_ > kMaxGroupLength) return false;
  const uint8_t* a = first_;
  const uint8_t* b = packet;
  // IPv4: no options, no fragment; TOS, DF, TTL, protocol, addresses as the first's (not the
  // length, id or checksum).
  if (ipHeaderLength(b) != 20 || ipIsFragment(b) || length < 40) return false;
  if (a[1] != b[1] || a[6] != b[6] || a[8] != b[8] || a[9] != b[9] || memcmp(a + 12, b + 12, 8) != 0) return false;
  const uint8_t* ta = a + 20;
  const uint8_t* tb = b + 20;
  const size_t tcpLength = tcpHeaderLength(ta);
  if (tcpHeaderLength(tb) != tcpLength || 20 + tcpLength >= length || length - headLength_ > gsoSize_) return false;
  // Ports, ACK number, data offset, window, options; flags equal apart from PSH.
  if (memcmp(ta, tb, 4) != 0 || memcmp(ta + 8, tb + 8, 5) != 0 || memcmp(ta + 14, tb + 14, 2) != 0 ||
      memcmp(ta + 20, tb + 20, tcpLength - 20) != 0 || ((ta[13] ^ tb[13]) & ~kTcpPsh) != 0)
    return false;
  if (load32(tb + 4) != nextSeq_) return false;
  return tcpChecksumValid(packet, length);
}

void TunWriter::add(uint8_t* packet, size_t length) {
  if (canJoinGroup(packet, length)) {
    const size_t payload = length - headLength_;
    iov_.push_back({packet + headLength_, payload});
    totalLength_ += payload;
    nextSeq_ += static_cast<uint32_t>(payload);
    lastFlags_ = packet[33];
    segments_++;
    // A short segment or PSH ends the flight: nothing may follow it in one super-packet.
    closed_ = payload < gsoSize_ || (lastFlags_ & kTcpPsh) != 0;
    return;
  }
  flush();
  if (!canStartGroup(packet, length)) {
    writeSingle(packet, length);
    return;
  }
  first_ = packet;
  firstLength_ = length;
  headLength_ = 20 + tcpHeaderLength(packet + 20);
  gsoSize_ = length - headLength_;
  totalLength_ = length;
  nextSeq_ = load32(packet + 24) + static_cast<uint32_t>(gsoSize_);
  lastFlags_ = packet[33];
  closed_ = (lastFlags_ & kTcpPsh) != 0;
  segments_ = 1;
  iov_.clear();
}

void TunWriter::flush() {
  if (first_ != nullptr) writeGroup();
  first_ = nullptr;
}

void TunWriter::written(bool success, uint64_t packets, uint64_t bytes) {
  if (success) {
    counters_.add(kTunTxPackets, packets);
    counters_.add(kTunTxBytes, bytes);
  } else {
    counters_.add(kTunWriteError, packets);
  }
}

void TunWriter::writeSingle(uint8_t* packet, size_t length) {
  ssize_t result;
  if (vnetHdr_) {
    VirtioNetHdr hdr = {};
    struct iovec iov[2] = {{&hdr, sizeof hdr}, {packet, length}};
    result = writev(fd_, iov, 2);
  } else {
    result = write(fd_, packet, length);
  }
  written(result >= 0, 1, length);
}

void TunWriter::writeGroup() {
  if (segments_ == 1) {
    writeSingle(first_, firstLength_);
    return;
  }
  uint8_t* ip = first_;
  uint8_t* tcp = ip + 20;
  store16(ip + 2, static_cast<uint16_t>(totalLength_));
  setIpHeaderChecksum(ip);
  tcp[13] |= lastFlags_ & kTcpPsh;
  // CHECKSUM_PARTIAL: the field holds the pseudo-header sum, not complemented; the kernel adds
  // the rest for every segment it cuts or delivers.
  Checksum pseudo;
  pseudo.add(ip + 12, 8);
  pseudo.add16(htons(kProtoTcp));
  pseudo.add16(htons(static_cast<uint16_t>(totalLength_ - 20)));
  uint16_t partial = pseudo.folded();
  memcpy(tcp + 16, &partial, 2);
  VirtioNetHdr hdr = {};
  hdr.flags = kVnetNeedsCsum;
  hdr.gsoType = kVnetGsoTcpv4;
  hdr.hdrLen = static_cast<uint16_t>(headLength_);
  hdr.gsoSize = static_cast<uint16_t>(gsoSize_);
  hdr.csumStart = 20;
  hdr.csumOffset = 16;
  struct iovec all[kMaxGroupSegments + 2];
  all[0] = {&hdr, sizeof hdr};
  all[1] = {first_, firstLength_};
  size_t count = 2;
  for (const struct iovec& payload : iov_) all[count++] = payload;
  ssize_t result = writev(fd_, all, static_cast<int>(count));
  // Counted as the packets that arrived, so tunTx matches udpRx minus drops.
  written(result >= 0, segments_, totalLength_ + (segments_ - 1) * headLength_);
}

}  // namespace dgram
