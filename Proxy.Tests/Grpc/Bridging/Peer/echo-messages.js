// The test Echo messages (Protos/echo.proto) for protobufjs, without code generation.
const protobuf = require('protobufjs/light');

const root = protobuf.Root.fromJSON({
  nested: {
    proxymesh: { nested: { test: { nested: {
      EchoRequest: { fields: {
        message: { type: 'string', id: 1 },
        count: { type: 'int32', id: 2 },
        failWithStatus: { type: 'int32', id: 3 },
        delayMs: { type: 'int32', id: 4 },
      } },
      EchoReply: { fields: {
        message: { type: 'string', id: 1 },
        deadlineSeconds: { type: 'double', id: 2 },
      } },
    } } } },
  },
});

exports.EchoRequest = root.lookupType('proxymesh.test.EchoRequest');
exports.EchoReply = root.lookupType('proxymesh.test.EchoReply');
