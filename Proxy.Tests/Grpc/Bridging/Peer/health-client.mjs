// @grpc/grpc-js (a non-.NET gRPC client, h2c) against the admin listener's grpc.health.v1.Health: prints a JSON line per
// event — a Check, then every Watch update — while the test drains and restores the proxy; ends when stdin closes.
// Usage: node health-client.mjs <host:port>
import { createInterface } from 'node:readline';
import grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/light.js';

const root = protobuf.Root.fromJSON({
  nested: { grpc: { nested: { health: { nested: { v1: { nested: {
    HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
    HealthCheckResponse: { fields: { status: { type: 'int32', id: 1 } } },
  } } } } } } },
});
const Request = root.lookupType('grpc.health.v1.HealthCheckRequest');
const Response = root.lookupType('grpc.health.v1.HealthCheckResponse');
const names = { 0: 'UNKNOWN', 1: 'SERVING', 2: 'NOT_SERVING', 3: 'SERVICE_UNKNOWN' };
const method = (name, responseStream) => ({
  path: `/grpc.health.v1.Health/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: (r) => Buffer.from(Request.encode(Request.create(r)).finish()),
  requestDeserialize: (b) => Request.decode(b),
  responseSerialize: (r) => Buffer.from(Response.encode(Response.create(r)).finish()),
  responseDeserialize: (b) => Response.toObject(Response.decode(b)),
});
const Health = grpc.makeGenericClientConstructor({ Check: method('Check', false), Watch: method('Watch', true) }, 'Health');
const client = new Health(process.argv[2], grpc.credentials.createInsecure());
const print = (event) => process.stdout.write(JSON.stringify(event) + '\n');

client.Check({ service: '' }, (err, reply) => {
  print(err ? { check: 'error', code: err.code } : { check: names[reply.status] });
  const watch = client.Watch({ service: '' });
  watch.on('data', (reply) => print({ watch: names[reply.status] }));
  watch.on('error', (err) => { if (err.code !== grpc.status.CANCELLED) print({ watchError: err.code }); });
  createInterface({ input: process.stdin }).on('close', () => { watch.cancel(); client.close(); });
});
