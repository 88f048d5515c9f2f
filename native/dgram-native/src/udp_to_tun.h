// The receiving direction: recvmmsg batches (with UDP_GRO, each message may hold many datagrams
// of one peer) → source checks, Flannel's TTL rule → TUN writes (coalesced with a vnet header).
// Flannel accepts any datagram; here one is dropped and counted when its sender is no peer
// (unknownSource), when its inner source lies outside that peer's subnet (spoofedSource), or
// when it is not exactly one valid IPv4 packet (malformed).
#pragma once
#include "path_context.h"

namespace dgram {

// Runs until the data plane stops.
void runUdpToTun(const PathContext& context, Counters& counters);

}  // namespace dgram
