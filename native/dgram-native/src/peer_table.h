// The peer table: which public IP carries a destination subnet, and which subnets a datagram
// from a given public IP may carry. Built whole from the table JavaScript hands over, then
// published with one atomic pointer swap: the packet threads take a snapshot per batch and never
// wait for a writer (level-triggered updates, no per-peer edits racing the data path).
#pragma once
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace dgram {

struct PeerRoute {
  uint32_t network;  // host byte order, host bits clear
  uint8_t prefixLength;
  uint32_t publicIp;  // host byte order
};

enum class SourceCheck { kUnknownPeer, kSpoofed, kAccepted };

class PeerTable {
 public:
  explicit PeerTable(const std::vector<PeerRoute>& routes);
  // The peer for a destination (longest prefix); false when none.
  bool nextHop(uint32_t destination, uint32_t* publicIp) const;
  bool knowsPeer(uint32_t publicIp) const { return subnetsByPublicIp_.count(publicIp) != 0; }
  // A datagram from `publicIp` carrying an inner packet from `innerSource`.
  SourceCheck checkSource(uint32_t publicIp, uint32_t innerSource) const;

 private:
  struct Subnet {
    uint32_t network;
    uint32_t mask;
  };
  // Distinct prefix lengths present, longest first: a cluster has one (its SubnetLen), so a
  // lookup is one hash probe, where Flannel scans a list.
  std::vector<uint8_t> prefixLengths_;
  std::unordered_map<uint64_t, uint32_t> publicIpBySubnet_;
  std::unordered_map<uint32_t, std::vector<Subnet>> subnetsByPublicIp_;
};

// The current table, swapped whole.
class PeerTableSlot {
 public:
  PeerTableSlot() : table_(std::make_shared<const PeerTable>(std::vector<PeerRoute>{})) {}
  std::shared_ptr<const PeerTable> load() const { return std::atomic_load(&table_); }
  void store(std::shared_ptr<const PeerTable> table) { std::atomic_store(&table_, std::move(table)); }

 private:
  std::shared_ptr<const PeerTable> table_;
};

inline uint32_t prefixMask(uint8_t prefixLength) {
  return prefixLength == 0 ? 0 : ~uint32_t{0} << (32 - prefixLength);
}

}  // namespace dgram
