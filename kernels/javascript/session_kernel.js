'use strict';
// Cordon's JavaScript session kernel. The Python supervisor (kernels/python/session_kernel.py) starts it in the
// session's jail as `node session_kernel.js SESSION GENERATION`, with its own pipe pair:
//   fd 3  host -> kernel: requests, each a 4-byte big-endian length and UTF-8 JSON
//   fd 4  kernel -> host: replies framed the same way, one per request (and a hello per kernel start); a streamed
//         cell also sends {"id", "stream": "stdout"|"stderr", "text"} frames before its reply
// Cells run like the Node REPL's input: in the kernel's own global context (top-level let, const, function and class
// persist), top-level await allowed, the completion value shown with util.inspect. SIGINT interrupts a cell.
const fs = require('fs');
const path = require('path');
const net = require('net');
const util = require('util');
const vm = require('vm');
const Module = require('module');

const WORK = '/work';
const sessionId = process.argv[2] || '?';
const generation = Number(process.argv[3] || 1);
const STREAM_EVERY_MS = 50;

// ---------------------------------------------------------------------------------------------------- framing

function writeAll(fd, buffer) {
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += fs.writeSync(fd, buffer, offset, buffer.length - offset);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

function send(message) {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  writeAll(4, Buffer.concat([header, body]));
}

// ---------------------------------------------------------------------------------------------------- top-level await

// Node's REPL rewrites a cell with top-level await into an async function whose declarations are hoisted to the
// global scope. That transform (and the acorn it parses with) ships inside node; it is loaded from node's own
// sources, so cells get exactly the REPL's semantics without exposing node's internals to them.
// Loaded on the first cell that needs it: a kernel's start stays fast.
let awaitTransform;
const processTopLevelAwait = (code) => {
  if (awaitTransform === undefined) awaitTransform = loadAwaitTransform();
  return awaitTransform === null ? null : awaitTransform(code);
};

function loadAwaitTransform() {
  let natives;
  try {
    natives = process.binding('natives');
  } catch {
    return null;
  }
  if (!natives['internal/repl/await']) return null;
  const lowerFirst = (s) => s[0].toLowerCase() + s.slice(1);
  const primordials = new Proxy({}, {
    get(_, name) {
      if (typeof name !== 'string') return undefined;
      if (name in globalThis) return globalThis[name];
      for (let i = name.length - 1; i > 0; i--) {
        const owner = globalThis[name.slice(0, i)];
        if (owner === undefined || !/^[A-Z]/.test(name.slice(i))) continue;
        let rest = name.slice(i);
        if (rest === 'Prototype') return owner.prototype;
        if (!rest.startsWith('Prototype')) return owner[lowerFirst(rest)];
        rest = rest.slice('Prototype'.length);
        const key = rest.startsWith('Symbol') ? Symbol[lowerFirst(rest.slice(6))] : lowerFirst(rest);
        const method = owner.prototype[key];
        return (self, ...args) => Reflect.apply(method, self, args);
      }
      return undefined;
    },
  });
  class Recoverable extends SyntaxError {
    constructor(err) {
      super();
      this.err = err;
    }
  }
  const loaded = new Map();
  function load(id) {
    if (id === 'internal/repl') return { Recoverable };
    if (loaded.has(id)) return loaded.get(id).exports;
    const module = { exports: {} };
    loaded.set(id, module);
    const body = vm.compileFunction(natives[id], ['exports', 'require', 'module', 'primordials', 'process'], { filename: 'node:' + id });
    body(module.exports, load, module, primordials, process);
    return module.exports;
  }
  try {
    return load('internal/repl/await').processTopLevelAwait;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------- hot reload

// Workspace modules seen so far: file -> stat key taken at the end of the cell that loaded it.
const seen = new Map();

function statKey(file) {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    return null;
  }
}

const isWorkspaceFile = (file) => typeof file === 'string' && file.startsWith(WORK + '/');

function rememberModules() {
  for (const file of Object.keys(require.cache)) {
    if (isWorkspaceFile(file) && !seen.has(file)) seen.set(file, statKey(file));
  }
}

// Drops changed workspace modules and the workspace modules that required them, children before parents; nothing
// else in require.cache is touched. Returns the dropped files, relative to the workspace.
function dropChangedModules() {
  const stale = new Set();
  for (const [file, key] of seen) {
    if (!require.cache[file]) seen.delete(file); // the cell removed it itself
    else if (statKey(file) !== key) stale.add(file);
  }
  if (stale.size === 0) return [];
  const workspace = Object.keys(require.cache).filter(isWorkspaceFile);
  for (let grew = true; grew;) {
    grew = false;
    for (const file of workspace) {
      if (!stale.has(file) && require.cache[file].children.some((c) => stale.has(c.id))) {
        stale.add(file);
        grew = true;
      }
    }
  }
  const order = [];
  const visited = new Set();
  const visit = (file) => {
    if (visited.has(file)) return;
    visited.add(file);
    for (const child of require.cache[file].children) if (stale.has(child.id)) visit(child.id);
    order.push(file);
  };
  [...stale].sort().forEach(visit);
  for (const file of order) {
    delete require.cache[file];
    seen.delete(file);
  }
  // A module that stays must not keep a dropped one as its child: a later change would drop it for nothing.
  for (const file of workspace) {
    const module = require.cache[file];
    if (module) module.children = module.children.filter((c) => !stale.has(c.id));
  }
  return order.map((file) => path.relative(WORK, file));
}

// ---------------------------------------------------------------------------------------------------- output

class Capture {
  constructor(name, limit, streamer) {
    this.name = name;
    this.parts = [];
    this.size = 0;
    this.limit = limit;
    this.truncated = false;
    this.streamer = streamer;
  }

  write(chunk, encoding) {
    let text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(typeof encoding === 'string' ? encoding : 'utf8');
    const room = this.limit - this.size;
    if (text.length > room) {
      this.truncated = true;
      text = text.slice(0, Math.max(room, 0));
    }
    if (text.length === 0) return;
    this.parts.push(text);
    this.size += text.length;
    if (this.streamer) this.streamer.push(this.name, text);
  }

  value() {
    return this.parts.join('');
  }
}

// Sends a streamed cell's output as it is written, coalesced: a line goes out at once unless output went out in the
// last 50 ms; anything else 50 ms after it was written (a timer, so output before an await is not held until the
// cell ends).
class Streamer {
  constructor(id) {
    this.id = id;
    this.pending = [];
    this.last = 0;
    this.timer = null;
  }

  push(stream, text) {
    const tail = this.pending[this.pending.length - 1];
    if (tail && tail[0] === stream) tail[1] += text;
    else this.pending.push([stream, text]);
    if (text.includes('\n') && Date.now() - this.last >= STREAM_EVERY_MS) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), STREAM_EVERY_MS);
  }

  flush() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.last = Date.now();
    for (const [stream, text] of this.pending.splice(0)) send({ id: this.id, stream, text });
  }
}

// ---------------------------------------------------------------------------------------------------- cells

// The cells' require resolves from the workspace, like a module in /work.
globalThis.require = Module.createRequire(path.join(WORK, '[cordon cell]'));
globalThis.module = new Module(path.join(WORK, '[cordon cell]'));
globalThis.__dirname = WORK;
globalThis.__filename = path.join(WORK, '[cordon cell]');

// The interrupt only counts while a cell runs; one that arrives late (the cell had just finished) is dropped.
// A synchronous cell is stopped by the script's breakOnSigint; this handler abandons a pending await.
let abandon = null;
process.on('SIGINT', () => {
  if (abandon) abandon();
});

class Interrupted extends Error {}

function formatError(error) {
  if (error instanceof Interrupted || (error && error.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED')) {
    return { type: 'Interrupted', message: 'The cell was interrupted.', traceback: 'Interrupted: The cell was interrupted.' };
  }
  if (!(error instanceof Error) && !(error && typeof error.stack === 'string')) {
    const shown = util.inspect(error);
    return { type: error === null ? 'null' : (error?.constructor?.name ?? typeof error), message: shown, traceback: 'Uncaught ' + shown };
  }
  // The kernel's own frames (and node's below them) are not the user's business: the stack ends at the cell.
  const lines = String(error.stack).split('\n');
  const cut = lines.findIndex((line) => /^\s+at /.test(line) && (line.includes(__filename) || line.includes('node:vm:')));
  const stack = (cut < 0 ? lines : lines.slice(0, cut)).join('\n');
  return { type: error.name || error.constructor?.name || 'Error', message: String(error.message ?? ''), traceback: stack };
}

function compile(code, filename) {
  // `{ a: 1 }` is an object to the REPL, not a block.
  if (/^\s*\{/.test(code) && /\}\s*$/.test(code)) {
    try {
      return { script: new vm.Script(`(${code}\n)`, { filename }), wrapped: false };
    } catch {
      // A block after all.
    }
  }
  try {
    return { script: new vm.Script(code, { filename }), wrapped: false };
  } catch (error) {
    if (!(error instanceof SyntaxError) || !code.includes('await')) throw error;
    const rewritten = processTopLevelAwait(code);
    if (rewritten === null) throw error;
    // The rewrite keeps every line where it was: frames still point into the cell.
    return { script: new vm.Script(rewritten, { filename }), wrapped: true };
  }
}

async function runCell(request) {
  const cell = request.cell;
  const filename = `<cordon session=${sessionId} cell=${cell}>`;
  const limit = request.max_output ?? 1 << 20;
  const reloaded = dropChangedModules();
  const streamer = request.stream ? new Streamer(request.id) : null;
  const out = new Capture('stdout', limit, streamer);
  const err = new Capture('stderr', limit, streamer);
  const saved = [process.stdout.write, process.stderr.write];
  process.stdout.write = (chunk, encoding, callback) => {
    out.write(chunk, encoding);
    if (typeof encoding === 'function') encoding();
    else if (typeof callback === 'function') callback();
    return true;
  };
  process.stderr.write = (chunk, encoding, callback) => {
    err.write(chunk, encoding);
    if (typeof encoding === 'function') encoding();
    else if (typeof callback === 'function') callback();
    return true;
  };
  let value = null;
  let error = null;
  const started = performance.now();
  try {
    const { script, wrapped } = compile(request.code, filename);
    let result = script.runInThisContext({ breakOnSigint: true, displayErrors: false });
    if (wrapped) {
      const interrupted = new Promise((_, reject) => {
        abandon = () => reject(new Interrupted());
      });
      result = await Promise.race([result, interrupted]);
      result = result?.value;
    }
    if (result !== undefined) value = util.inspect(result, { colors: false });
  } catch (e) {
    error = formatError(e);
  } finally {
    abandon = null;
    [process.stdout.write, process.stderr.write] = saved;
    rememberModules();
  }
  if (streamer) streamer.flush();
  return {
    stdout: out.value(),
    stderr: err.value(),
    truncated: out.truncated || err.truncated,
    value,
    error,
    duration_ms: performance.now() - started,
    reloaded,
    outputs: [],
  };
}

// ---------------------------------------------------------------------------------------------------- main loop

// Requests are read asynchronously: a cell's pending await (timers, I/O) must keep the event loop turning. A socket
// over the pipe, not fs.createReadStream: that one blocks a thread-pool thread in read(), and node's exit joins the
// pool, so a cell's process.exit() would hang the kernel instead of ending it.
let queue = Promise.resolve();
let buffered = Buffer.alloc(0);
const requests = new net.Socket({ fd: 3, readable: true, writable: false });
requests.on('data', (chunk) => {
  buffered = Buffer.concat([buffered, chunk]);
  while (buffered.length >= 4) {
    const size = buffered.readUInt32BE(0);
    if (buffered.length < 4 + size) break;
    const request = JSON.parse(buffered.subarray(4, 4 + size).toString('utf8'));
    buffered = buffered.subarray(4 + size);
    queue = queue.then(async () => {
      const reply = request.op === 'exec' ? await runCell(request) : {};
      reply.id = request.id;
      send(reply);
    });
  }
});
requests.on('end', () => process.exit(0));
requests.on('error', () => process.exit(0));

// A cell's rejected promise nobody awaited is the cell's business, not a reason for the kernel to die.
process.on('unhandledRejection', () => {});
// An exception thrown by a callback (a timer the cell set) must not kill the kernel either; while a cell runs it
// shows in the cell's stderr, like the REPL shows it.
process.on('uncaughtException', (e) => {
  try {
    process.stderr.write('Uncaught ' + (e && e.stack ? e.stack : util.inspect(e)) + '\n');
  } catch {
    // The stream is gone; nothing to report to.
  }
});

send({ id: 0, hello: generation, pid: process.pid });
