import dgram from "node:dgram";

// The reseller's DNS provider, for the browser tests: a real DNS server on UDP that answers the TXT
// records a test publishes (NXDOMAIN for everything else). The server under test asks it for domain
// checks (DNS_SERVER in the Makefile's e2e target points here).

export const DNS_PORT = 5354;

export interface Dns {
  publishTxt(name: string, value: string): void;
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): [string, number] {
  const labels: string[] = [];
  let i = offset;
  while (msg[i] !== 0) {
    const len = msg[i];
    labels.push(msg.subarray(i + 1, i + 1 + len).toString("ascii"));
    i += len + 1;
  }
  return [labels.join(".").toLowerCase(), i + 1];
}

function answer(query: Buffer, zone: Map<string, string[]>): Buffer {
  const [name, end] = readName(query, 12);
  const qtype = query.readUInt16BE(end);
  const question = query.subarray(12, end + 4);
  const values = qtype === 16 ? zone.get(name) ?? [] : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // the query's id
  const rd = query.readUInt16BE(2) & 0x0100;
  // Response, authoritative, recursion available; NXDOMAIN when the name has no records.
  header.writeUInt16BE(0x8480 | rd | (zone.has(name) ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(values.length, 6);
  const answers = values.map((v) => {
    const text = Buffer.from(v, "ascii");
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(16, 2); // TXT
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(5, 6); // TTL
    rr.writeUInt16BE(text.length + 1, 10);
    return Buffer.concat([rr, Buffer.from([text.length]), text]);
  });
  return Buffer.concat([header, question, ...answers]);
}

export async function startDns(port = DNS_PORT): Promise<Dns> {
  const zone = new Map<string, string[]>();
  const socket = dgram.createSocket("udp4");
  socket.on("message", (msg, peer) => {
    try {
      socket.send(answer(msg, zone), peer.port, peer.address);
    } catch {
      // Not a query we understand: no answer, as a real server would drop garbage.
    }
  });
  await new Promise<void>((resolve) => socket.bind(port, "127.0.0.1", resolve));
  return {
    publishTxt(name: string, value: string) {
      const key = name.replace(/\.$/, "").toLowerCase();
      zone.set(key, [...(zone.get(key) ?? []), value]);
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
