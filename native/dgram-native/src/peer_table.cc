#include "peer_table.h"

#include <algorithm>

namespace dgram {

static uint64_t subnetKey(uint32_t network, uint8_t prefixLength) {
  return static_cast<uint64_t>(prefixLength) << 32 | network;
}

PeerTable::PeerTable(const std::vector<PeerRoute>& routes) {
  for (const PeerRoute& route : routes) {
    if (route.prefixLength > 32) continue;
    uint32_t mask = prefixMask(route.prefixLength);
    uint32_t network = route.network & mask;
    publicIpBySubnet_[subnetKey(network, route.prefixLength)] = route.publicIp;
    subnetsByPublicIp_[route.publicIp].push_back({network, mask});
    if (std::find(prefixLengths_.begin(), prefixLengths_.end(), route.prefixLength) == prefixLengths_.end())
      prefixLengths_.push_back(route.prefixLength);
  }
  std::sort(prefixLengths_.begin(), prefixLengths_.end(), [](uint8_t a, uint8_t b) { return a > b; });
}

bool PeerTable::nextHop(uint32_t destination, uint32_t* publicIp) const {
  for (uint8_t length : prefixLengths_) {
    auto found = publicIpBySubnet_.find(subnetKey(destination & prefixMask(length), length));
    if (found != publicIpBySubnet_.end()) {
      *publicIp = found->second;
      return true;
    }
  }
  return false;
}

SourceCheck PeerTable::checkSource(uint32_t publicIp, uint32_t innerSource) const {
  auto found = subnetsByPublicIp_.find(publicIp);
  if (found == subnetsByPublicIp_.end()) return SourceCheck::kUnknownPeer;
  for (const Subnet& subnet : found->second)
    if ((innerSource & subnet.mask) == subnet.network) return SourceCheck::kAccepted;
  return SourceCheck::kSpoofed;
}

}  // namespace dgram
