#include "ipv4.h"

namespace dgram {

void Checksum::add(const void* data, size_t length) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  unsigned __int128 sum = sum_;
  while (length >= 32) {
    uint64_t w[4];
    memcpy(w, p, sizeof w);
    sum += w[0];
    sum += w[1];
    sum += w[2];
    sum += w[3];
    p += 32;
    length -= 32;
  }
  while (length >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    sum += w;
    p += 8;
    length -= 8;
  }
  // The tail, zero-padded to a full word: in memory order, as the words above were read.
  if (length > 0) {
    uint64_t w = 0;
    memcpy(&w, p, length);
    sum += w;
  }
  sum_ = sum;
}

uint16_t Checksum::folded() const {
  uint64_t low = static_cast<uint64_t>(sum_), high = static_cast<uint64_t>(sum_ >> 64);
  uint64_t s = low + high;
  s += (s < low);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

size_t validIpv4Length(const uint8_t* ip, size_t available) {
  if (available < kIpv4MinHeader || (ip[0] >> 4) != 4) return 0;
  size_t headerLength = ipHeaderLength(ip);
  size_t total = ipTotalLength(ip);
  if (headerLength < kIpv4MinHeader || total < headerLength || total > available) return 0;
  return total;
}

bool ipHeaderChecksumValid(const uint8_t* ip) {
  Checksum c;
  c.add(ip, ipHeaderLength(ip));
  return c.folded() == 0xffff;
}

void setIpHeaderChecksum(uint8_t* ip) {
  ip[10] = ip[11] = 0;
  Checksum c;
  c.add(ip, ipHeaderLength(ip));
  uint16_t value = c.finish();
  memcpy(ip + 10, &value, 2);
}

bool decrementTtl(uint8_t* ip) {
  if (ip[8] <= 1) return false;
  // RFC 1624 incremental update: HC' = ~(~HC + ~m + m'), m the 16-bit word holding the TTL.
  uint16_t oldWord = load16(ip + 8);
  ip[8]--;
  uint16_t newWord = load16(ip + 8);
  uint32_t sum = static_cast<uint16_t>(~load16(ip + 10)) + static_cast<uint16_t>(~oldWord) + newWord;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  store16(ip + 10, static_cast<uint16_t>(~sum));
  return true;
}

size_t buildNetUnreachable(const uint8_t* offender, size_t length, uint32_t source, uint8_t* out) {
  if (length < kIpv4MinHeader || ipProtocol(offender) == kProtoIcmp || (load16(offender + 6) & 0x1fff) != 0) return 0;
  size_t headerLength = ipHeaderLength(offender);
  if (headerLength < kIpv4MinHeader || headerLength > length) return 0;
  size_t quoted = headerLength + (length - headerLength < 8 ? length - headerLength : 8);
  size_t total = 20 + 8 + quoted;
  memset(out, 0, 28);
  out[0] = 0x45;
  store16(out + 2, static_cast<uint16_t>(total));
  out[8] = 8;  // Flannel's TTL for this reply
  out[9] = kProtoIcmp;
  store32(out + 12, source);
  memcpy(out + 16, offender + 12, 4);  // back to the offender's source
  setIpHeaderChecksum(out);
  uint8_t* icmp = out + 20;
  icmp[0] = 3;  // destination unreachable
  icmp[1] = 0;  // net unreachable
  memcpy(icmp + 8, offender, quoted);
  Checksum c;
  c.add(icmp, 8 + quoted);
  uint16_t value = c.finish();
  memcpy(icmp + 2, &value, 2);
  return total;
}

}  // namespace dgram
