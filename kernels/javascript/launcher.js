'use strict';
// Cordon's JavaScript launcher. It runs inside a jail, waits for its program on descriptor 3 (the main file's
// path and the arguments, NUL-separated), then runs it as `node MAIN ARGS...` would, through Node's own main-module
// loader (so require.main, import.meta and process.argv are the real ones). A warm pool starts it before any request;
// a cold run hands the program over at once; both go through this file, so a program sees the same process.
const fs = require('fs');
const path = require('path');

const chunks = [];
const buffer = Buffer.alloc(65536);
for (;;) {
  const n = fs.readSync(3, buffer, 0, buffer.length, null);
  if (n === 0) break;
  chunks.push(Buffer.from(buffer.subarray(0, n)));
}
fs.closeSync(3);
const argv = Buffer.concat(chunks).toString('utf8').split('\0');
if (argv.length > 0 && argv[argv.length - 1] === '') argv.pop();

process.argv = [process.argv[0], path.resolve(argv[0]), ...argv.slice(1)];
require('module').runMain();
