using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Cordon.Bench;
using Cordon.Engine;

// The benchmark driver behind bench/run. Every mode is timed by this one program: processes are spawned from here,
// the library is called in here, and the HTTP APIs are called with one HttpClient from here.
//   Cordon.Bench --workloads bench/workloads --scratch DIR --cordon-dll artifacts/cordon/cordon.dll --out raw.json
// DIR must hold the workload files and `hello`, the C workload compiled beforehand; bench/run prepares it.

var options = Options.Parse(args);
if (options is null)
{
    await Console.Error.WriteLineAsync(Options.Usage).ConfigureAwait(false);
    return 2;
}
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
var token = cancel.Token;
var clock = Stopwatch.StartNew();
var startedUtc = DateTime.UtcNow;
var workloads = Workload.All(options.Workloads).Where(w => options.WorkloadNames.Count == 0 || options.WorkloadNames.Contains(w.Name)).ToImmutableArray();
var latency = new List<LatencyCell>();
var throughput = new List<ThroughputCell>();
var budget = options.Budget;
var pool = new WarmPoolOptions { Runtimes = ["python", "javascript", "c"], MinSize = 2, MaxSize = 8 };

void Progress(string text) => Console.Error.WriteLine($"[{clock.Elapsed.TotalSeconds,5:0}s] {text}");

async Task MeasureAsync(ITarget target)
{
    await LatencyAllAsync(target).ConfigureAwait(false);
    await ThroughputAllAsync(target).ConfigureAwait(false);
}

async Task LatencyAllAsync(ITarget target)
{
    foreach (var workload in workloads)
    {
        var cell = await Measure.LatencyAsync(target, workload, budget, token).ConfigureAwait(false);
        latency.Add(cell);
        var pooled = cell.PoolHits is { } hits ? $" pool hits {hits}/{hits + cell.PoolMisses}" : "";
        Progress($"{target.Mode,-12} {workload.Name,-10} n={cell.N,3} p50={cell.P50Ms,8:0.00} p95={cell.P95Ms,8:0.00} p99={cell.P99Ms,8:0.00} ms cpu={cell.CpuMsP50,6:0.0} ms"
            + $"{pooled}{(cell.Errors > 0 ? $" ERRORS {cell.Errors}: {cell.FirstError}" : "")}");
    }
}

async Task ThroughputAllAsync(ITarget target)
{
    foreach (var workload in workloads.Where(w => options.ThroughputWorkloads.Contains(w.Name)))
    {
        foreach (var concurrency in budget.Concurrency)
        {
            var cell = await Measure.ThroughputAsync(target, workload, concurrency, budget, token).ConfigureAwait(false);
            throughput.Add(cell);
            var pooled = cell.PoolHits is { } hits ? $" pool hits {hits}/{hits + cell.PoolMisses}" : "";
            Progress($"{target.Mode,-12} {workload.Name,-10} c={concurrency} {cell.Rps,7:0.0}/s p50={cell.P50Ms,8:0.00} p99={cell.P99Ms,8:0.00} ms cpu/req={cell.CpuMsPerRequest,6:0.0} ms busy={cell.CpuBusyPercent:0}%"
                + $"{pooled}{(cell.Errors > 0 ? $" ERRORS {cell.Errors}: {cell.FirstError}" : "")}");
        }
    }
}

bool Wanted(string mode) => options.Modes.Count == 0 || options.Modes.Contains(mode);

var scratch = options.Scratch;
Progress($"{Environment.ProcessorCount} cores; quiet machine measured from {Quiet.Source}; workloads {string.Join(", ", workloads.Select(w => w.Name))}");
// Other work on the machine skews every figure: wait up to 2 minutes for a quiet second, and record what was left.
var quietAtStart = await Quiet.WaitAsync(null, TimeSpan.FromMinutes(2), token, windows: 200).ConfigureAwait(false);
var backgroundStart = await Quiet.BusyPercentAsync(TimeSpan.FromSeconds(1), token).ConfigureAwait(false);
Progress(quietAtStart
    ? $"machine quiet; background CPU {backgroundStart}% of the cores"
    : $"WARNING: the machine was not quiet for 1 s within 2 minutes (background CPU {backgroundStart}%); figures will be noisy");

if (Wanted("bare"))
{
    await MeasureAsync(new ProcessTarget("bare", w => ProcessTarget.StartInfo(w.BareArgv, scratch, ProcessTarget.JailEnvironment))).ConfigureAwait(false);
    // The C rows of Cordon's modes include gcc; this is the bare equivalent of compile + run.
    var build = new ProcessTarget("bare", _ => ProcessTarget.StartInfo(
        ["/bin/sh", "-c", "gcc -std=gnu17 -O2 -pipe -o /tmp/cordon-bench-hello-$$ hello.c -lm && /tmp/cordon-bench-hello-$$; s=$?; rm -f /tmp/cordon-bench-hello-$$; exit $s"],
        scratch, ProcessTarget.JailEnvironment));
    var c = workloads.FirstOrDefault(w => w.Name == "c");
    if (c is not null)
    {
        var cell = await Measure.LatencyAsync(build, c with { Name = "c_compile_run" }, budget with { MaxSamples = 30, CellTime = TimeSpan.FromSeconds(2), MinSamples = 10 }, token).ConfigureAwait(false);
        latency.Add(cell);
        Progress($"bare         gcc -O2 + run n={cell.N,3} p50={cell.P50Ms,8:0.00} p95={cell.P95Ms,8:0.00} p99={cell.P99Ms,8:0.00} ms");
    }
}
if (Wanted("bwrap"))
{
    await MeasureAsync(new ProcessTarget("bwrap", w => ProcessTarget.StartInfo(
        [.. ProcessTarget.BwrapPrefix(Path.Combine(scratch, w.JailFile), w.JailFile), .. w.BareArgv], scratch, ProcessTarget.JailEnvironment))).ConfigureAwait(false);
}
if (Wanted("cordon_run"))
{
    // What a person types: the `cordon` on PATH with the program's file name; the caller's environment as it is.
    await MeasureAsync(new ProcessTarget("cordon_run", w => ProcessTarget.StartInfo([options.CordonCli, "run", w.Source], scratch, null))).ConfigureAwait(false);
}
foreach (var (mode, warm) in new[] { ("lib_cold", false), ("lib_warm", true) })
{
    if (!Wanted(mode)) continue;
    var target = await LibraryTarget.CreateAsync(mode, warm, pool, token).ConfigureAwait(false);
    await using (target.ConfigureAwait(false))
    {
        await MeasureAsync(target).ConfigureAwait(false);
    }
}
foreach (var warm in new[] { false, true })
{
    var suffix = warm ? "_warm" : "_cold";
    if (!Wanted("native" + suffix) && !Wanted("piston" + suffix)) continue;
    var log = Path.Combine(options.LogDirectory, $"serve{suffix}.log");
    File.Delete(log);
    var server = await CordonServerProcess.StartAsync(options.Dotnet, options.CordonDll, warm, log, token).ConfigureAwait(false);
    await using (server.ConfigureAwait(false))
    {
        Progress($"cordon serve{suffix} at {server.Url}: {server.IdleJails} idle jails when quiet; log {log}");
        // Sequential latency of both APIs first, while the pools are at their idle size; then throughput.
        var targets = new[] { new HttpTarget("native" + suffix, server, piston: false), new HttpTarget("piston" + suffix, server, piston: true) }
            .Where(t => Wanted(t.Mode)).ToList();
        foreach (var target in targets) await LatencyAllAsync(target).ConfigureAwait(false);
        foreach (var target in targets) await ThroughputAllAsync(target).ConfigureAwait(false);
    }
}

SessionsJson? sessions = null;
if (Wanted("sessions"))
{
    // The sessions part: a `1+1` cell's round trip (bare REPL on a pipe, library, HTTP), creation up to the first
    // cell's answer (library, HTTP), and memory per idle session (library).
    var cellBudget = budget with { MinSamples = Math.Min(100, options.SessionSamples), MaxSamples = options.SessionSamples, CellTime = TimeSpan.FromSeconds(4) };
    var createBudget = budget with { MinSamples = Math.Min(20, options.CreateSamples), MaxSamples = options.CreateSamples, CellTime = TimeSpan.FromSeconds(4) };
    var cells = new List<LatencyCell>();
    var loops = new List<ThroughputCell>();
    var deletes = new Dictionary<string, IReadOnlyList<double>>();
    MemoryReport? memory = null;
    bool Part(string mode) => options.SessionModes.Count == 0 || options.SessionModes.Contains(mode);

    async Task SessionCellAsync(ITarget target, Workload workload, Budget b)
    {
        var cell = await Measure.LatencyAsync(target, workload, b, token).ConfigureAwait(false);
        cells.Add(cell);
        Progress($"{target.Mode,-12} {workload.Name,-10} n={cell.N,3} p50={cell.P50Ms,8:0.000} p95={cell.P95Ms,8:0.000} p99={cell.P99Ms,8:0.000} ms inside={cell.StageP50Ms,8:0.000} ms cpu={cell.CpuMsP50,6:0.00} ms"
            + $"{(cell.Errors > 0 ? $" ERRORS {cell.Errors}: {cell.FirstError}" : "")}");
        if (workload != SessionWorkloads.Cell) return;
        // The same cell back to back, no pause: what a caller that sends cell after cell sees (no wake-up from idle).
        var loop = await Measure.ThroughputAsync(target, workload, 1, b with { ThroughputTime = options.SessionLoopTime }, token).ConfigureAwait(false);
        loops.Add(loop);
        Progress($"{target.Mode,-12} {workload.Name,-10} back to back {loop.Rps,7:0}/s p50={loop.P50Ms,8:0.000} p99={loop.P99Ms,8:0.000} ms cpu/cell={loop.CpuMsPerRequest,6:0.000} ms"
            + $"{(loop.Errors > 0 ? $" ERRORS {loop.Errors}: {loop.FirstError}" : "")}");
    }

    if (Part("repl_bare"))
    {
        var repl = ReplTarget.Start(options.ReplScript, scratch);
        await using (repl.ConfigureAwait(false))
        {
            await SessionCellAsync(repl, SessionWorkloads.Cell, cellBudget).ConfigureAwait(false);
        }
    }
    if (Part("session_lib"))
    {
        var library = LibrarySessionTarget.Create();
        await using (library.ConfigureAwait(false))
        {
            await SessionCellAsync(library, SessionWorkloads.Create, createBudget).ConfigureAwait(false);
            deletes[library.Mode] = [.. library.DeleteMs];
            await SessionCellAsync(library, SessionWorkloads.Cell, cellBudget).ConfigureAwait(false);
            memory = await SessionMemoryProbe.MeasureAsync(library.Engine, options.MemorySessions, token).ConfigureAwait(false);
            Progress($"memory of {memory.Sessions} idle sessions: PSS {memory.PerSession.Average(m => m.PssBytes) / 1048576:0.0} MiB, USS {memory.PerSession.Average(m => m.UssBytes) / 1048576:0.0} MiB, "
                + $"cgroup {memory.PerSession.Average(m => m.CgroupBytes ?? 0) / 1048576:0.0} MiB each on average");
        }
    }
    if (Part("session_http"))
    {
        var log = Path.Combine(options.LogDirectory, "serve_sessions.log");
        File.Delete(log);
        // The server as it is deployed: its default logging (one information line per cell), no debug events.
        var server = await CordonServerProcess.StartAsync(options.Dotnet, options.CordonDll, false, log, token, engineDebug: false).ConfigureAwait(false);
        await using (server.ConfigureAwait(false))
        {
            var http = new HttpSessionTarget(server);
            await using (http.ConfigureAwait(false))
            {
                await SessionCellAsync(http, SessionWorkloads.Create, createBudget).ConfigureAwait(false);
                deletes[http.Mode] = [.. http.DeleteMs];
                await SessionCellAsync(http, SessionWorkloads.Cell, cellBudget).ConfigureAwait(false);
            }
        }
    }
    sessions = new SessionsJson
    {
        Latency = cells,
        BackToBack = loops,
        DeleteP50Ms = deletes.ToDictionary(d => d.Key, d => Stats.Round(Stats.Percentile([.. d.Value.Order()], 50))),
        Memory = memory,
    };
}

var backgroundEnd = await Quiet.BusyPercentAsync(TimeSpan.FromSeconds(1), token).ConfigureAwait(false);
var results = new BenchResults
{
    QuietAtStart = quietAtStart,
    BackgroundCpuPercentStart = backgroundStart,
    BackgroundCpuPercentEnd = backgroundEnd,
    StartedUtc = startedUtc.ToString("o", CultureInfo.InvariantCulture),
    FinishedUtc = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
    DriverSeconds = Stats.Round(clock.Elapsed.TotalSeconds, 1),
    DotnetRuntime = Environment.Version.ToString(),
    Cores = Environment.ProcessorCount,
    QuietSource = Quiet.Source,
    Budget = new BudgetJson(budget.Warmup, budget.MinSamples, budget.MaxSamples, budget.CellTime.TotalSeconds, budget.ThroughputTime.TotalSeconds,
        budget.Concurrency, budget.SettleTimeout.TotalSeconds, [.. options.ThroughputWorkloads]),
    WarmPool = new PoolJson([.. pool.Runtimes], pool.MinSize, pool.MaxSize),
    Workloads = [.. Workload.All(options.Workloads).Select(w => new WorkloadJson(w.Name, w.Label, w.Language, w.Source, w.MainFile, w.Expected, [.. w.BareArgv], w.Compiled))],
    BwrapCommand = string.Join(' ', ProcessTarget.BwrapPrefix("FILE", "FILE")) + " ARGV",
    Latency = latency,
    Throughput = throughput,
    Sessions = sessions,
};
var output = JsonSerializer.Serialize(results, ResultsJson.Options);
await File.WriteAllTextAsync(options.Out, output + "\n", token).ConfigureAwait(false);
Progress($"wrote {options.Out}");
return latency.Any(c => c.N == 0) || throughput.Any(c => c.Completed == 0) || sessions?.Latency.Any(c => c.N == 0) == true ? 1 : 0;

namespace Cordon.Bench
{
    internal sealed record Options
    {
        public const string Usage = """
            usage: Cordon.Bench --workloads DIR --scratch DIR --cordon-dll FILE --out FILE [options]
              --cordon CMD             the cordon command for the cordon_run mode (default: cordon)
              --dotnet CMD             the dotnet host that runs --cordon-dll for `cordon serve` (default: dotnet)
              --log-dir DIR            where the servers' logs go (default: the --out file's folder)
              --modes a,b              only these modes (bare, bwrap, cordon_run, lib_cold, lib_warm, native_cold,
                                       native_warm, piston_cold, piston_warm, sessions)
              --repl SCRIPT            the bare REPL of the sessions part (default: bench/session_repl.py)
              --session-samples N      most `1+1` cells per sessions round-trip cell (default 400)
              --create-samples N       most sessions created per creation cell (default 40)
              --memory-sessions N      idle sessions measured for memory (default 10)
              --session-loop-seconds S time of the back-to-back `1+1` loop per mode (default 2)
              --session-modes a,b      only these modes of the sessions part (repl_bare, session_lib, session_http)
              --only w1,w2             only these workloads (python, javascript, bash, c, cpu, io)
              --throughput w1,w2       workloads whose throughput is measured (default: python)
              --concurrency 1,2,4,8    throughput concurrency levels
              --cell-seconds S         time per latency cell once it has --min-samples (default 3)
              --min-samples N          (default 20)  --max-samples N (default 200)  --warmup N (default 3)
              --throughput-seconds S   time per throughput cell (default 2)
            """;

        public required string Workloads { get; init; }
        public required string Scratch { get; init; }
        public required string CordonDll { get; init; }
        public required string Out { get; init; }
        public string CordonCli { get; init; } = "cordon";
        public string Dotnet { get; init; } = "dotnet";
        public required string LogDirectory { get; init; }
        public IReadOnlySet<string> Modes { get; init; } = new HashSet<string>();
        public IReadOnlySet<string> WorkloadNames { get; init; } = new HashSet<string>();
        public IReadOnlySet<string> ThroughputWorkloads { get; init; } = new HashSet<string> { "python" };
        public Budget Budget { get; init; } = new();
        public required string ReplScript { get; init; }
        public int SessionSamples { get; init; } = 400;
        public int CreateSamples { get; init; } = 40;
        public int MemorySessions { get; init; } = 10;
        public TimeSpan SessionLoopTime { get; init; } = TimeSpan.FromSeconds(2);
        public IReadOnlySet<string> SessionModes { get; init; } = new HashSet<string>();

        public static Options? Parse(string[] args)
        {
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                if (!args[i].StartsWith("--", StringComparison.Ordinal)) return null;
                values[args[i][2..]] = args[i + 1];
            }
            if (args.Length % 2 != 0) return null;
            string? Get(string key) => values.TryGetValue(key, out var v) ? v : null;
            HashSet<string> Set(string? list) => list is null ? [] : [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
            double Number(string key, double fallback) => Get(key) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
            if (Get("workloads") is not { } workloads || Get("scratch") is not { } scratch || Get("cordon-dll") is not { } dll || Get("out") is not { } output) return null;
            var defaults = new Budget();
            return new Options
            {
                Workloads = Path.GetFullPath(workloads),
                Scratch = Path.GetFullPath(scratch),
                CordonDll = Path.GetFullPath(dll),
                Out = Path.GetFullPath(output),
                CordonCli = Get("cordon") ?? "cordon",
                Dotnet = Get("dotnet") ?? "dotnet",
                LogDirectory = Path.GetFullPath(Get("log-dir") ?? Path.GetDirectoryName(Path.GetFullPath(output))!),
                Modes = Set(Get("modes")),
                WorkloadNames = Set(Get("only")),
                ReplScript = Path.GetFullPath(Get("repl") ?? Path.Combine(workloads, "..", "session_repl.py")),
                SessionSamples = (int)Number("session-samples", 400),
                CreateSamples = (int)Number("create-samples", 40),
                MemorySessions = (int)Number("memory-sessions", 10),
                SessionLoopTime = TimeSpan.FromSeconds(Number("session-loop-seconds", 2)),
                SessionModes = Set(Get("session-modes")),
                ThroughputWorkloads = Get("throughput") is { } t ? Set(t) : new HashSet<string> { "python" },
                Budget = new Budget
                {
                    Warmup = (int)Number("warmup", defaults.Warmup),
                    MinSamples = (int)Number("min-samples", defaults.MinSamples),
                    MaxSamples = (int)Number("max-samples", defaults.MaxSamples),
                    CellTime = TimeSpan.FromSeconds(Number("cell-seconds", defaults.CellTime.TotalSeconds)),
                    ThroughputTime = TimeSpan.FromSeconds(Number("throughput-seconds", defaults.ThroughputTime.TotalSeconds)),
                    Concurrency = Get("concurrency") is { } c ? [.. Set(c).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).Order()] : defaults.Concurrency,
                },
            };
        }
    }

    internal sealed record BudgetJson(int Warmup, int MinSamples, int MaxSamples, double CellSeconds, double ThroughputSeconds,
        IReadOnlyList<int> Concurrency, double SettleTimeoutSeconds, IReadOnlyList<string> ThroughputWorkloads);

    internal sealed record PoolJson(IReadOnlyList<string> Runtimes, int MinSize, int MaxSize);

    internal sealed record WorkloadJson(string Name, string Label, string Language, string Source, string MainFile, string Expected,
        IReadOnlyList<string> BareArgv, bool CompiledByCordon);

    internal sealed record BenchResults
    {
        public required string StartedUtc { get; init; }
        public required string FinishedUtc { get; init; }
        public required double DriverSeconds { get; init; }
        public required string DotnetRuntime { get; init; }
        public required int Cores { get; init; }
        public required string QuietSource { get; init; }
        public required bool QuietAtStart { get; init; }
        public required double BackgroundCpuPercentStart { get; init; }
        public required double BackgroundCpuPercentEnd { get; init; }
        public required BudgetJson Budget { get; init; }
        public required PoolJson WarmPool { get; init; }
        public required IReadOnlyList<WorkloadJson> Workloads { get; init; }
        public required string BwrapCommand { get; init; }
        public required IReadOnlyList<LatencyCell> Latency { get; init; }
        public required IReadOnlyList<ThroughputCell> Throughput { get; init; }
        public SessionsJson? Sessions { get; init; }
    }

    /// <summary>The sessions part: round trips and creation as latency cells (workloads "cell" and "create"), memory.</summary>
    internal sealed record SessionsJson
    {
        public required IReadOnlyList<LatencyCell> Latency { get; init; }
        /// <summary>The `1+1` cell in a closed loop at concurrency 1, per mode.</summary>
        public required IReadOnlyList<ThroughputCell> BackToBack { get; init; }
        public required IReadOnlyDictionary<string, double> DeleteP50Ms { get; init; }
        public MemoryReport? Memory { get; init; }
    }

    internal static class ResultsJson
    {
        public static readonly JsonSerializerOptions Options = new()
        {
            WriteIndented = true,
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };
    }
}
