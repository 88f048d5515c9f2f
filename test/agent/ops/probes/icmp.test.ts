// ICMP echo bytes: requests carry a valid checksum (IPv4), our identifier, sequence and marker;
// only an echo reply with the marker is read back, with or without the IPv4 header in front.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildEchoRequest, echoLength, internetChecksum, parseEchoReply } from "../../../../agent/ops/probes/icmp.ts";
import { replyTo } from "./echo-replies.ts";

test("an IPv4 echo request is type 8 with a checksum that verifies, the identifier and the sequence", () => {
  const request = buildEchoRequest(4, 0xbeef, 0x1234);
  assert.equal(request.length, echoLength);
  assert.equal(request[0], 8);
  assert.equal(internetChecksum(request), 0, "a message with its checksum in place sums to zero");
  assert.equal(request.readUInt16BE(4), 0xbeef);
  assert.equal(request.readUInt16BE(6), 0x1234);
});

test("an IPv6 echo request is type 128 and leaves the checksum to the kernel", () => {
  const request = buildEchoRequest(6, 1, 2);
  assert.equal(request[0], 128);
  assert.equal(request.readUInt16BE(2), 0);
});

test("the checksum is RFC 1071's, odd lengths included", () => {
  // RFC 1071 §3's example words 0001 f203 f4f5 f6f7 sum to ddf2 → checksum 220d.
  assert.equal(internetChecksum(Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])), 0x220d);
  assert.equal(internetChecksum(Buffer.from([0xff])), 0x00ff);
});

test("an echo reply is read back with its identifier and sequence, after the IPv4 header or alone for IPv6", () => {
  assert.deepEqual(parseEchoReply(4, replyTo(4, buildEchoRequest(4, 7, 65535))), { identifier: 7, sequence: 65535 });
  assert.deepEqual(parseEchoReply(6, replyTo(6, buildEchoRequest(6, 9, 3))), { identifier: 9, sequence: 3 });
  // An IPv4 header with options (IHL 6) moves the ICMP message.
  const withOptions = Buffer.concat([Buffer.from([0x46]), Buffer.alloc(23), buildEchoRequest(4, 5, 6)]);
  withOptions[9] = 1;
  withOptions[24] = 0;
  assert.deepEqual(parseEchoReply(4, withOptions), { identifier: 5, sequence: 6 });
});

test("anything but our echo reply is ignored: requests, other types, other payloads, other protocols, short packets", () => {
  const request4 = buildEchoRequest(4, 7, 1);
  const asReceived = Buffer.concat([Buffer.from([0x45, ...Buffer.alloc(8), 1, ...Buffer.alloc(10)]), request4]);
  assert.equal(parseEchoReply(4, asReceived), undefined, "an echo request (someone pinging us)");
  const unreachable = replyTo(4, request4);
  unreachable[20] = 3;
  assert.equal(parseEchoReply(4, unreachable), undefined, "destination unreachable");
  const foreign = replyTo(4, request4);
  foreign.writeUInt8(foreign.readUInt8(30) ^ 0xff, 30);
  assert.equal(parseEchoReply(4, foreign), undefined, "another program's payload");
  assert.equal(parseEchoReply(4, replyTo(4, request4, 17)), undefined, "not ICMP");
  assert.equal(parseEchoReply(4, replyTo(4, request4).subarray(0, 30)), undefined, "truncated");
  assert.equal(parseEchoReply(6, Buffer.from([135, 0, 0, 0])), undefined, "neighbour solicitation");
  assert.equal(parseEchoReply(6, replyTo(4, request4)), undefined, "an IPv4 packet on the IPv6 socket");
});
