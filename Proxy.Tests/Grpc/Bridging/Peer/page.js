// Runs in the browser page: calls the Echo service through the proxy with the grpc-web client library
// (text and binary formats), cross-origin, and leaves what happened in window.results.
const { GrpcWebClientBase, MethodDescriptor, MethodType } = require('grpc-web');
const { EchoRequest, EchoReply } = require('./echo-messages.js');

function method(name, type) {
  return new MethodDescriptor(
    `/proxymesh.test.Echo/${name}`, type, Object, Object,
    (request) => EchoRequest.encode(EchoRequest.create(request)).finish(),
    (bytes) => EchoReply.toObject(EchoReply.decode(bytes)));
}

const unary = method('Unary', MethodType.UNARY);
const serverStream = method('ServerStream', MethodType.SERVER_STREAMING);

function call(client, proxy, request) {
  return new Promise((resolve) => {
    client.rpcCall(`${proxy}/proxymesh.test.Echo/Unary`, request, { 'x-test-call': 'browser' }, unary, (err, response) =>
      resolve(err ? { code: err.code, message: err.message, metadata: err.metadata } : { code: 0, message: response.message }));
  });
}

function stream(client, proxy, request) {
  return new Promise((resolve) => {
    const messages = [];
    const s = client.serverStreaming(`${proxy}/proxymesh.test.Echo/ServerStream`, request, {}, serverStream);
    s.on('data', (reply) => messages.push(reply.message));
    s.on('error', (err) => resolve({ messages, code: err.code, message: err.message }));
    s.on('status', (status) => { if (status.code === 0) resolve({ messages, code: 0 }); });
  });
}

async function run() {
  const proxy = new URLSearchParams(location.search).get('proxy');
  const results = {};
  for (const format of ['text', 'binary']) {
    const client = new GrpcWebClientBase({ format, maxReceiveMessageSize: 0 });
    results[format] = {
      unary: await call(client, proxy, { message: `hello ${format}` }),
      error: await call(client, proxy, { failWithStatus: 5 }),
      large: await call(client, proxy, { message: 'z'.repeat(4 * 1024 * 1024) }).then((r) => ({ code: r.code, length: (r.message || '').length })),
    };
    if (format === 'text') {
      results[format].stream = await stream(client, proxy, { message: 'tick', count: 3 });
      results[format].streamError = await stream(client, proxy, { message: 'tick', failWithStatus: 9 });
    }
  }

  window.results = results;
}

run().catch((e) => { window.results = { failure: String(e && e.stack || e) }; });
