// An agent-style MCP client built on the official TypeScript SDK: it connects to Cordon over stdio (spawning
// `dotnet cordon.dll mcp`) or streamable HTTP, plays one scenario as an agent would, and prints what it saw as one
// JSON document on stdout. Run by Cordon.Mcp.FunctionalTests:
//   node agent.mjs stdio /path/to/cordon.dll SCENARIO [ARG]
//   node agent.mjs http http://127.0.0.1:PORT/mcp SCENARIO [ARG]     (CORDON_MCP_KEY: the API key, if any)
// Scenarios: tools, languages, state, plot, timeout, progress, cancel-cell, cancel-run, cancel-command, bad-session,
// cap, create-session, use-session ID, connect, bench N.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [kind, target, scenario, arg] = process.argv.slice(2);
if (!kind || !target || !scenario) {
  console.error('usage: node agent.mjs stdio|http CORDON_DLL|URL SCENARIO [ARG]');
  process.exit(2);
}

function transport() {
  if (kind === 'stdio') {
    // The server's stderr (its logs) goes to ours, so a failing test shows it.
    return new StdioClientTransport({ command: 'dotnet', args: [target, 'mcp'], stderr: 'inherit', env: { ...process.env } });
  }
  const key = process.env.CORDON_MCP_KEY;
  return new StreamableHTTPClientTransport(new URL(target), key ? { requestInit: { headers: { Authorization: `Bearer ${key}` } } } : {});
}

const client = new Client({ name: 'cordon-agent-test', version: '1.0.0' });
const started = performance.now();
try {
  await client.connect(transport());
} catch (error) {
  // A refused connection (401 without a key) is a scenario's answer, not a crash.
  console.log(JSON.stringify({ connected: false, error: String(error?.message ?? error), code: error?.code ?? null }));
  process.exit(0);
}
const connectMs = performance.now() - started;

const call = (name, args, options) => client.callTool({ name, arguments: args }, undefined, options);
const text = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
const brief = (result) => ({ isError: result.isError ?? false, structured: result.structuredContent ?? null, text: text(result) });

// Abort a call after `ms`, as an agent (or its user) that gives up would; time how long the rejection takes.
async function cancelAfter(ms, name, args) {
  const controller = new AbortController();
  const begun = performance.now();
  setTimeout(() => controller.abort('the agent gave up'), ms);
  let outcome;
  try {
    const result = await call(name, args, { signal: controller.signal, timeout: 120_000 });
    outcome = { rejected: false, result: brief(result) };
  } catch (error) {
    outcome = { rejected: true, error: String(error?.message ?? error) };
  }
  return { ...outcome, elapsedMs: performance.now() - begun, abortAfterMs: ms };
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// PNG width and height from the IHDR chunk.
function pngSize(base64) {
  const bytes = Buffer.from(base64, 'base64');
  const signature = bytes.subarray(0, 8).toString('hex') === '89504e470d0a1a0a';
  return { signature, width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), bytes: bytes.length };
}

const scenarios = {
  connect: async () => ({ connected: true, server: client.getServerVersion(), instructions: client.getInstructions() ?? null }),

  tools: async () => {
    const { tools } = await client.listTools();
    return { tools: tools.map((t) => ({ name: t.name, title: t.title ?? null, description: t.description, inputSchema: t.inputSchema, annotations: t.annotations ?? null })) };
  },

  languages: async () => {
    const programs = {
      python: 'import sys\nprint("hello from python", sys.version_info[0])',
      javascript: 'console.log("hello from javascript", 6 * 7)',
      c: '#include <stdio.h>\nint main(void) { printf("hello from c %d\\n", 42); return 0; }',
      bash: 'echo "hello from bash $((40 + 2))"',
    };
    const results = {};
    for (const [language, code] of Object.entries(programs)) results[language] = brief(await call('run_code', { language, code }));
    results.failing = brief(await call('run_code', { language: 'python', code: 'import sys\nprint("partial")\nsys.exit(3)' }));
    results.stdin = brief(await call('run_code', { language: 'python', code: 'print(input().upper())', stdin: 'shout\n' }));
    results.files = brief(await call('run_code', { language: 'python', code: 'import helper\nprint(helper.answer())', files: [{ name: 'helper.py', content: 'def answer():\n    return 42\n' }] }));
    return results;
  },

  state: async () => {
    const first = await call('execute', { code: 'import math\nx = 41\nprint("set")' });
    const id = first.structuredContent.session_id;
    const second = await call('execute', { session_id: id, code: 'x += 1\nmath.sqrt(x * x)' });
    const error = await call('execute', { session_id: id, code: '1 / 0' });
    const third = await call('execute', { session_id: id, code: 'x' });
    await call('write_file', { session_id: id, path: 'data/in.txt', content: 'line one\nline two\n' });
    const lines = await call('execute', { session_id: id, code: 'len(open("data/in.txt").read().splitlines())' });
    const command = await call('run_command', { session_id: id, command: 'wc -l data/in.txt && echo oops >&2 && exit 4' });
    const background = await call('run_command', { session_id: id, command: 'for i in 1 2 3; do echo tick $i; sleep 0.2; done', background: true });
    await new Promise((r) => setTimeout(r, 1500));
    const output = await call('get_command_output', { session_id: id, command_id: background.structuredContent.command_id });
    const files = await call('list_files', { session_id: id });
    const read = await call('read_file', { session_id: id, path: 'data/in.txt' });
    const listed = await call('list_sessions', {});
    const closed = await call('close_session', { session_id: id });
    const after = await call('execute', { session_id: id, code: 'x' });
    return {
      first: brief(first), second: brief(second), error: brief(error), third: brief(third), lines: brief(lines),
      command: brief(command), background: brief(background), output: brief(output), files: brief(files),
      read: brief(read), listed: brief(listed), closed: brief(closed), after: brief(after),
    };
  },

  javascript: async () => {
    const first = await call('execute', { language: 'javascript', code: 'let n = 20\nconsole.log("set", n)' });
    const id = first.structuredContent.session_id;
    const second = await call('execute', { session_id: id, language: 'javascript', code: 'await new Promise((r) => setTimeout(r, 10))\nn + 1' });
    const thrown = await call('execute', { session_id: id, language: 'javascript', code: 'null.x' });
    const python = await call('execute', { session_id: id, code: '1 + 1' });
    const both = await call('create_session', { languages: ['python', 'javascript'] });
    const both_id = both.structuredContent.session_id;
    const py = await call('execute', { session_id: both_id, code: 'open("shared.txt", "w").write("from python")' });
    const js = await call('execute', { session_id: both_id, language: 'javascript', code: 'require("fs").readFileSync("shared.txt", "utf8")' });
    await call('close_session', { session_id: id });
    await call('close_session', { session_id: both_id });
    return { first: brief(first), second: brief(second), thrown: brief(thrown), python: brief(python), py: brief(py), js: brief(js) };
  },

  plot: async () => {
    const result = await call('execute', {
      code: 'import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(30, 20), dpi=100)\nplt.plot([1, 2, 3], [4, 1, 9])\nprint("drawn")',
      timeout_seconds: 45,
    });
    const images = result.content.filter((c) => c.type === 'image').map((c) => ({ mimeType: c.mimeType, ...pngSize(c.data) }));
    await call('close_session', { session_id: result.structuredContent.session_id });
    return { ...brief(result), images };
  },

  timeout: async () => {
    const cell = await call('execute', { code: 'import time\nprint("before", flush=True)\nwhile True:\n    time.sleep(0.01)', timeout_seconds: 1 });
    const id = cell.structuredContent.session_id;
    const after = await call('execute', { session_id: id, code: 'print("still alive")' });
    const run = await call('run_code', { language: 'python', code: 'print("spinning", flush=True)\nwhile True: pass', timeout_seconds: 1 });
    const command = await call('run_command', { session_id: id, command: 'echo start; sleep 30', timeout_seconds: 1 });
    await call('close_session', { session_id: id });
    return { cell: brief(cell), after: brief(after), run: brief(run), command: brief(command) };
  },

  progress: async () => {
    const notes = [];
    const result = await call('execute', { code: 'import time\ntime.sleep(5)\nprint("slept")' }, {
      onprogress: (p) => notes.push(p),
      resetTimeoutOnProgress: true,
      timeout: 120_000,
    });
    await call('close_session', { session_id: result.structuredContent.session_id });
    return { ...brief(result), progress: notes };
  },

  'cancel-cell': async () => {
    const created = await call('execute', { code: 'y = 7' });
    const id = created.structuredContent.session_id;
    const cancelled = await cancelAfter(2000, 'execute', { session_id: id, code: 'import time\nprint("sleeping", flush=True)\ntime.sleep(60)' });
    const begun = performance.now();
    const after = await call('execute', { session_id: id, code: 'y * 6' });
    const afterMs = performance.now() - begun;
    await call('close_session', { session_id: id });
    return { cancelled, after: brief(after), afterMs };
  },

  'cancel-run': async () => {
    // The program becomes `sleep MARKER`, so the test can look for it on the host afterwards.
    const cancelled = await cancelAfter(2000, 'run_code', { language: 'python', code: `import os\nos.execvp("sleep", ["sleep", "${arg}"])`, timeout_seconds: 9 });
    return { cancelled };
  },

  'cancel-command': async () => {
    const created = await call('create_session', {});
    const id = created.structuredContent.session_id;
    const cancelled = await cancelAfter(2000, 'run_command', { session_id: id, command: `sleep ${arg}` });
    const listed = await call('list_sessions', {});
    await call('close_session', { session_id: id });
    return { cancelled, listed: brief(listed) };
  },

  'bad-session': async () => ({
    execute: brief(await call('execute', { session_id: 's0123456789abcdef01234567', code: 'print(1)' })),
    files: brief(await call('list_files', { session_id: 'nope' })),
    args: brief(await call('run_code', { language: 'python', code: 5, extra: true })),
    language: brief(await call('run_code', { language: 'cobol-85', code: 'x' })),
    tooLong: brief(await call('run_code', { language: 'python', code: 'print(1)', timeout_seconds: 1000 })),
  }),

  // One client creates a session and leaves it open; another (a different API key) then tries to use it.
  'create-session': async () => brief(await call('create_session', {})),
  'use-session': async () => ({
    execute: brief(await call('execute', { session_id: arg, code: 'print(1)' })),
    close: brief(await call('close_session', { session_id: arg })),
    listed: brief(await call('list_sessions', {})),
  }),

  cap: async () => {
    const results = [];
    for (let i = 0; i < 3; i++) results.push(brief(await call('create_session', {})));
    const listed = brief(await call('list_sessions', {}));
    for (const r of results) if (!r.isError) await call('close_session', { session_id: r.structured.session_id });
    return { results, listed };
  },

  bench: async () => {
    const n = Number(arg ?? 50);
    const session = (await call('create_session', {})).structuredContent.session_id;
    const measure = async (name, args) => {
      for (let i = 0; i < 5; i++) await call(name, args); // warm-up
      const times = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const result = await call(name, args);
        times.push(performance.now() - t);
        if (result.isError || !text(result).includes('hi')) throw new Error(`unexpected result: ${text(result)}`);
      }
      return { calls: n, p50: percentile(times, 50), p95: percentile(times, 95), mean: times.reduce((a, b) => a + b, 0) / n };
    };
    const runCode = await measure('run_code', { language: 'python', code: 'print("hi")' });
    const execute = await measure('execute', { session_id: session, code: 'print("hi")' });
    await call('close_session', { session_id: session });
    return { transport: kind, connectMs, run_code: runCode, execute };
  },
};

const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario '${scenario}'`);
  process.exit(2);
}
const output = await run();
console.log(JSON.stringify(output));
await client.close();
