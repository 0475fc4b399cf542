// The Echo service of Protos/echo.proto in @grpc/grpc-js: a gRPC peer that is not .NET, as server or client.
//   node echo.js <echo.proto> server                 prints {"port":N} once listening on 127.0.0.1
//   node echo.js <echo.proto> client <host:port> <call as JSON>   prints the call's result as JSON
'use strict';
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [protoPath, mode, target, spec] = process.argv.slice(2);
const definition = loader.loadSync(protoPath, { longs: Number, defaults: true });
const Echo = grpc.loadPackageDefinition(definition).proxymesh.test.Echo;

function failure(code) {
  const metadata = new grpc.Metadata();
  metadata.set('x-failure-detail', 'requested by test');
  return { code, details: `failing with ${code} as asked`, metadata };
}

function deadlineSeconds(call) {
  const deadline = Number(call.getDeadline()); // a Date or a number of milliseconds; Infinity without a deadline
  return Number.isFinite(deadline) ? (deadline - Date.now()) / 1000 : -1;
}

function serve() {
  const server = new grpc.Server();
  server.addService(Echo.service, {
    unary(call, callback) {
      const request = call.request;
      setTimeout(() => {
        if (request.failWithStatus) {
          callback(failure(request.failWithStatus)); // nothing sent yet: a trailers-only answer
        } else {
          callback(null, { message: request.message, deadlineSeconds: deadlineSeconds(call) });
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

function callClient() {
  const call = JSON.parse(spec);
  const client = new Echo(target, grpc.credentials.createInsecure());
  const options = call.deadlineMs ? { deadline: new Date(Date.now() + call.deadlineMs) } : {};
  const started = Date.now();
  const result = { replies: [], headersReceived: false };
  const done = status => {
    result.code = status.code;
    result.details = status.details;
    result.trailers = {};
    for (const [key, value] of Object.entries(status.metadata.getMap())) result.trailers[key] = String(value);
    result.elapsedMs = Date.now() - started;
    console.log(JSON.stringify(result));
    client.close();
  };
  const request = { message: call.message || '', count: call.count || 0, failWithStatus: call.failWithStatus || 0, delayMs: call.delayMs || 0 };
  let stream;
  switch (call.method) {
    case 'unary':
      stream = client.unary(request, options, (error, reply) => { if (reply) result.replies.push(reply); });
      break;
    case 'serverStream':
      stream = client.serverStream(request, options);
      break;
    case 'clientStream':
      stream = client.clientStream(options, (error, reply) => { if (reply) result.replies.push(reply); });
      for (const message of call.messages) stream.write({ message });
      stream.end();
      break;
    case 'bidi':
      stream = client.bidi(options);
      stream.on('metadata', () => {
        result.headersReceived = true;
        for (const message of call.messages) stream.write({ message });
        if (!call.keepOpen) stream.end();
      });
      break;
    default:
      throw new Error(`unknown method ${call.method}`);
  }
  stream.on('metadata', () => { result.headersReceived = true; });
  if (call.method !== 'unary' && call.method !== 'clientStream') stream.on('data', reply => result.replies.push(reply));
  stream.on('error', () => {});
  stream.on('status', done);
}

if (mode === 'server') serve(); else callClient();
