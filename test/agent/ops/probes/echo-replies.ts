// What a peer sends back for one of our echo requests, as a raw socket hands it over: the
// request with its type turned into a reply, behind a minimal IPv4 header for IPv4. Not a test.
export function replyTo(family: 4 | 6, request: Buffer, protocol = 1): Buffer {
  const reply = Buffer.from(request);
  reply[0] = family === 4 ? 0 : 129;
  if (family === 6) return reply;
  const header = Buffer.alloc(20);
  header[0] = 0x45;
  header[9] = protocol;
  return Buffer.concat([header, reply]);
}
