// The Echo service of Protos/echo.proto in @grpc/grpc-js: a gRPC peer that is not .NET, as server or client.
//   node echo.js <echo.proto> server                 prints {"port":N} once listening on 127.0.0.1
//   node echo.js <echo.proto> client <host:port> <call as JSON>   prints the call's result as JSON
// The server takes messages of any size and sends request metadata named x-echo-* back, as response headers and as
// trailers. Metadata values of -bin keys travel as base64 in the JSON on both ends.
'use strict';
const crypto = require('crypto');

const [protoPath, mode, target, spec] = process.argv.slice(2);
const call = mode === 'client' ? JSON.parse(spec) : {};
if (call.keepaliveTimeMs) process.env.GRPC_TRACE = 'keepalive,transport'; // read when grpc-js loads
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const definition = loader.loadSync(protoPath, { longs: Number, defaults: true });
const Echo = grpc.loadPackageDefinition(definition).proxymesh.test.Echo;
const unlimited = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };

function failure(code) {
  const metadata = new grpc.Metadata();
  metadata.set('x-failure-detail', 'requested by test');
  return { code, details: `failing with ${code} as asked`, metadata };
}

function echoedMetadata(incoming) {
  const echoed = new grpc.Metadata();
  for (const [key, values] of Object.entries(incoming.toJSON())) {
    if (key.startsWith('x-echo-')) for (const value of values) echoed.add(key, value);
  }
  return echoed;
}

function deadlineSeconds(call) {
  const deadline = Number(call.getDeadline()); // a Date or a number of milliseconds; Infinity without a deadline
  return Number.isFinite(deadline) ? (deadline - Date.now()) / 1000 : -1;
}

function serve() {
  const server = new grpc.Server(unlimited);
  server.addService(Echo.service, {
    unary(call, callback) {
      const request = call.request;
      const echoed = echoedMetadata(call.metadata);
      setTimeout(() => {
        if (request.failWithStatus) {
          callback(failure(request.failWithStatus)); // nothing sent yet: a trailers-only answer
        } else {
          if (Object.keys(echoed.getMap()).length > 0) call.sendMetadata(echoed);
          callback(null, { message: request.message, deadlineSeconds: deadlineSeconds(call) }, echoed.clone());
        }
      }, request.delayMs);
    },
    serverStream(call) {
      const request = call.request;
      if (request.failWithStatus) {
        call.emit('error', failure(request.failWithStatus));
        return;
      }
      let sent = 0;
      const next = () => {
        if (call.cancelled) return;
        if (sent === request.count) {
          call.end();
          return;
        }
        call.write({ message: `${request.message} ${sent++}` });
        setTimeout(next, request.delayMs);
      };
      next();
    },
    clientStream(call, callback) {
      const messages = [];
      call.on('data', request => messages.push(request.message));
      call.on('end', () => callback(null, { message: messages.join(',') }));
    },
    bidi(call) {
      // Headers first: a caller may wait for them before it sends anything.
      call.sendMetadata(new grpc.Metadata());
      call.on('data', request => {
        if (request.message === 'end') {
          call.end(); // status OK while the caller's side is still open
        } else if (request.failWithStatus) {
          call.emit('error', failure(request.failWithStatus));
        } else {
          call.write({ message: request.message.toUpperCase() });
        }
      });
      call.on('end', () => call.end());
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    console.log(JSON.stringify({ port }));
  });
}

function text(metadata) {
  const map = {};
  for (const [key, value] of Object.entries(metadata.getMap())) map[key] = Buffer.isBuffer(value) ? value.toString('base64') : String(value);
  return map;
}

function outgoingMetadata() {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(call.metadata || {})) {
    metadata.add(key, key.endsWith('-bin') ? Buffer.from(value, 'base64') : value);
  }
  return metadata;
}

// A message of `size` characters, the same for every run: '0123456789abcdef' repeated.
function sized(size) {
  return '0123456789abcdef'.repeat(Math.ceil(size / 16)).slice(0, size);
}

function reported(reply) {
  if (!call.digest) return reply;
  const digest = crypto.createHash('sha256').update(reply.message, 'utf8').digest('hex');
  return { ...reply, message: `${reply.message.length}:${digest}` };
}

// One call on `client`; resolves with what the caller saw.
function oneCall(client) {
  return new Promise(resolve => {
    const options = call.deadlineMs ? { deadline: new Date(Date.now() + call.deadlineMs) } : {};
    const started = Date.now();
    const result = { replies: [], headersReceived: false, headers: {} };
    const done = status => {
      result.code = status.code;
      result.details = status.details;
      result.trailers = text(status.metadata);
      result.elapsedMs = Date.now() - started;
      resolve(result);
    };
    const message = call.messageSize ? sized(call.messageSize) : call.message || '';
    // Only the fields set: protobufjs writes a field given as 0, which would make the request's size depend on the encoder.
    const request = { message };
    for (const field of ['count', 'failWithStatus', 'delayMs']) if (call[field]) request[field] = call[field];
    const metadata = outgoingMetadata();
    const keep = reply => result.replies.push(reported(reply));
    let stream;
    switch (call.method) {
      case 'unary':
        stream = client.unary(request, metadata, options, (error, reply) => { if (reply) keep(reply); });
        break;
      case 'serverStream':
        stream = client.serverStream(request, metadata, options);
        break;
      case 'clientStream':
        stream = client.clientStream(metadata, options, (error, reply) => { if (reply) keep(reply); });
        for (const each of call.messages) stream.write({ message: each });
        stream.end();
        break;
      case 'bidi':
        stream = client.bidi(metadata, options);
        stream.on('metadata', () => {
          result.headersReceived = true;
          for (const each of call.messages) stream.write({ message: each });
          if (!call.keepOpen) stream.end();
        });
        break;
      default:
        throw new Error(`unknown method ${call.method}`);
    }
    stream.on('metadata', headers => { result.headersReceived = true; result.headers = text(headers); });
    if (call.method !== 'unary' && call.method !== 'clientStream') stream.on('data', keep);
    stream.on('error', () => {});
    stream.on('status', done);
  });
}

async function callClient() {
  const pings = { pingsSent: 0, pingsAcked: 0, goaways: [] };
  if (call.keepaliveTimeMs) {
    grpc.setLogVerbosity(grpc.logVerbosity.DEBUG);
    grpc.setLogger({
      error: (...parts) => {
        const line = parts.join(' ');
        if (line.includes('Sending ping')) pings.pingsSent++;
        if (line.includes('Received ping response')) pings.pingsAcked++;
        if (line.includes('GOAWAY')) pings.goaways.push(line);
      },
    });
  }
  const options = { ...unlimited };
  if (call.compression) options['grpc.default_compression_algorithm'] = grpc.compressionAlgorithms[call.compression];
  if (call.keepaliveTimeMs) {
    options['grpc.keepalive_time_ms'] = call.keepaliveTimeMs;
    options['grpc.keepalive_timeout_ms'] = 5000;
    options['grpc.keepalive_permit_without_calls'] = 1;
  }
  const client = new Echo(target, grpc.credentials.createInsecure(), options);
  const calls = [];
  for (let i = 0; i < (call.repeat || 1); i++) {
    if (i > 0 && call.gapMs) await new Promise(resolve => setTimeout(resolve, call.gapMs));
    calls.push(await oneCall(client));
  }
  const last = calls[calls.length - 1];
  console.log(JSON.stringify({ ...last, calls: calls.map(each => ({ code: each.code, details: each.details })), ...pings }));
  client.close();
}

if (mode === 'server') serve(); else callClient();
