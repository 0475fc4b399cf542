// A hand-rolled grpc-web-text client on Node's fetch (undici, HTTP/1.1): frames and base64-encodes each request
// message on its own, streams the body a few bytes at a time, decodes the answer by 4-character groups (padding may end
// any of them) and prints its messages and trailers as JSON. Usage: node text-client.mjs <proxy-url>
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { EchoRequest, EchoReply } = require('./echo-messages.js');
const proxy = process.argv[2];

function frame(flags, payload) {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

function decodeGroups(text) {
  const chunks = [];
  for (let i = 0; i < text.length; i += 4) chunks.push(Buffer.from(text.slice(i, i + 4), 'base64'));
  return Buffer.concat(chunks);
}

function parse(bytes) {
  const messages = [];
  const trailers = {};
  for (let at = 0; at < bytes.length;) {
    const flags = bytes[at];
    const length = bytes.readUInt32BE(at + 1);
    const payload = bytes.subarray(at + 5, at + 5 + length);
    at += 5 + length;
    if (flags & 0x80) {
      for (const line of payload.toString('utf8').split('\r\n').filter(Boolean)) {
        const colon = line.indexOf(':');
        trailers[line.slice(0, colon)] = line.slice(colon + 1).trim();
      }
    } else {
      messages.push(EchoReply.decode(payload).message);
    }
  }
  return { messages, trailers };
}

async function call(path, requests) {
  const text = requests.map((r) => Buffer.from(frame(0, EchoRequest.encode(EchoRequest.create(r)).finish())).toString('base64')).join('');
  const body = new ReadableStream({
    start(controller) {
      for (let i = 0; i < text.length; i += 5) controller.enqueue(new TextEncoder().encode(text.slice(i, i + 5)));
      controller.close();
    },
  });
  const response = await fetch(`${proxy}${path}`, {
    method: 'POST',
    body,
    duplex: 'half',
    headers: { 'content-type': 'application/grpc-web-text', 'x-grpc-web': '1', accept: 'application/grpc-web-text' },
  });
  const answer = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type'), ...parse(decodeGroups(answer)) };
}

const results = {
  stream: await call('/proxymesh.test.Echo/ServerStream', [{ message: 'n', count: 4 }]),
  clientStream: await call('/proxymesh.test.Echo/ClientStream', [{ message: 'x' }, { message: 'yy' }, { message: 'zzz' }]),
  error: await call('/proxymesh.test.Echo/Unary', [{ failWithStatus: 8 }]),
};
process.stdout.write(JSON.stringify(results));
