// Drives a Cordon server with the real piston-client package, as a Piston user would, and prints what the client
// returned as one JSON document on stdout. Run by Cordon.Server.FunctionalTests:
//   node piston.mjs http://127.0.0.1:PORT runtimes|hello|error|timeout|c
import piston from 'piston-client';

const [server, scenario] = process.argv.slice(2);
if (!server || !scenario) {
  console.error('usage: node piston.mjs SERVER_URL runtimes|hello|error|timeout|c');
  process.exit(2);
}

const client = piston({ server });

const scenarios = {
  runtimes: () => client.runtimes(),
  hello: () => client.execute('python', 'print("hello")'),
  // The client's default args are ["1", "2", "3"]; the program shows it got them.
  error: () => client.execute('python', 'import sys\nprint(sys.argv[1:])\nraise SystemExit(3)'),
  timeout: () => client.execute('python', 'while True: pass', { runTimeout: 500 }),
  c: () => client.execute('c', '#include <stdio.h>\nint main(void) { puts("compiled"); return 0; }'),
};

const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario '${scenario}'`);
  process.exit(2);
}

const result = await run();
// The client reports transport failures as { success: false, error }; an Error does not survive JSON.stringify.
if (result && result.success === false && result.error instanceof Error) result.error = String(result.error);
process.stdout.write(JSON.stringify(result) + '\n');
