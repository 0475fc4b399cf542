// Bundles the browser page's script (page.js with grpc-web and protobufjs) into one file with esbuild's JS API
// (works whether or not npm ran esbuild's install script). Usage: node bundle.mjs <outfile>
import { build } from 'esbuild';

await build({ entryPoints: ['page.js'], bundle: true, format: 'iife', outfile: process.argv[2], logLevel: 'warning' });
