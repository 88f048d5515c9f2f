// IPv4 and TCP header arithmetic shared by both directions: the Internet checksum, header
// validation, Flannel's TTL rule and its ICMP "net unreachable" reply.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace dgram {

// One's complement sum (RFC 1071). Summing native-endian 64-bit words into a 128-bit accumulator
// gives the same 16-bit result as summing big-endian 16-bit words once folded, read back in
// native order (RFC 1071 §2(B)), and costs one add-with-carry per 8 bytes.
class Checksum {
 public:
  // Every part but the last must have an even length (16-bit words must not straddle parts).
  void add(const void* data, size_t length);
  void add16(uint16_t networkOrderWord) { sum_ += networkOrderWord; }
  // The folded 16-bit sum in network byte order as stored in memory (not complemented).
  uint16_t folded() const;
  // The value to store in a checksum field.
  uint16_t finish() const { return static_cast<uint16_t>(~folded()); }

 private:
  unsigned __int128 sum_ = 0;
};

constexpr size_t kIpv4MinHeader = 20;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

inline uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
inline void store16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
inline void store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24); p[1] = static_cast<uint8_t>(v >> 16); p[2] = static_cast<uint8_t>(v >> 8); p[3] = static_cast<uint8_t>(v);
}

inline size_t ipHeaderLength(const uint8_t* ip) { return static_cast<size_t>(ip[0] & 0x0f) * 4; }
inline uint16_t ipTotalLength(const uint8_t* ip) { return load16(ip + 2); }
inline uint8_t ipProtocol(const uint8_t* ip) { return ip[9]; }
inline uint32_t ipSource(const uint8_t* ip) { return load32(ip + 12); }
inline uint32_t ipDestination(const uint8_t* ip) { return load32(ip + 16); }
// Fragment offset or MF set: the packet is a fragment.
inline bool ipIsFragment(const uint8_t* ip) { return (load16(ip + 6) & 0x3fff) != 0; }

// A packet we may forward: version 4, a sane header length, and a total length that fits the
// bytes we hold. Returns the packet's length (from its header) or 0 when it is malformed.
size_t validIpv4Length(const uint8_t* ip, size_t available);
// The header checksum verifies.
bool ipHeaderChecksumValid(const uint8_t* ip);
void setIpHeaderChecksum(uint8_t* ip);

// Flannel's rule, applied in both directions: decrement, and drop when it reaches 0. Returns
// false when the packet must be dropped; otherwise the TTL and the header checksum are updated.
bool decrementTtl(uint8_t* ip);

// Flannel's reply to a packet for which no peer exists: ICMP destination unreachable, net
// unreachable (type 3, code 0), from `source` (the TUN address) with TTL 8, quoting the
// offender's header and first 8 bytes. None for ICMP offenders or non-first fragments.
// Writes into `out` (at least 20 + 8 + 60 + 8 bytes) and returns the length, or 0 for none.
size_t buildNetUnreachable(const uint8_t* offender, size_t length, uint32_t source, uint8_t* out);

}  // namespace dgram
