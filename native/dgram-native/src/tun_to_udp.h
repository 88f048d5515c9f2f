// The sending direction: TUN reads → peer lookup, Flannel's TTL and ICMP rules → UDP sends.
// Reads are drained in rounds of up to 64 (TSO super-packets cut into segments, segment.h);
// each round leaves through a UdpBatchSender (udp_batch.h).
#pragma once
#include "path_context.h"

namespace dgram {

// Runs until the data plane stops.
void runTunToUdp(const PathContext& context, Counters& counters);

}  // namespace dgram
