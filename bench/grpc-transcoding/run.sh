#!/usr/bin/env bash
# Transcoded JSON unary vs plain gRPC unary through the proxy; writes bench/results/grpc-transcoding.md.
# Needs the .NET 10 SDK and protoc with the well-known protos (Debian: protobuf-compiler libprotobuf-dev).
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet run -c Release --project bench/grpc-transcoding -- "$@"
