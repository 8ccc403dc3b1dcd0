using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Cordon.Engine;
using Cordon.Jail;
using Microsoft.Extensions.Logging;

namespace Cordon.Cli;

/// <summary>How a doctor check ended.</summary>
internal enum CheckStatus
{
    /// <summary>Works.</summary>
    Ok,
    /// <summary>Works, but something is worth knowing (a runtime missing, a slower fallback).</summary>
    Warn,
    /// <summary>Cordon cannot run jails (or not safely) until this is fixed.</summary>
    Fail,
}

/// <summary>One line of <c>cordon doctor</c>; <see cref="Fix"/> says what to do when it is not ok.</summary>
internal sealed record CheckResult(CheckStatus Status, string Title, string? Fix = null)
{
    public static CheckResult Ok(string title) => new(CheckStatus.Ok, title);

    public static CheckResult Warn(string title, string? fix = null) => new(CheckStatus.Warn, title, fix);

    public static CheckResult Fail(string title, string? fix) => new(CheckStatus.Fail, title, fix);
}

/// <summary>
/// <c>cordon doctor</c>: checks the host one requirement at a time, from the plain facts (root, programs,
/// namespaces, cgroups, uids) to a real jail and a real execution, printing each result as it comes.
/// </summary>
internal sealed class DoctorCommand(CliConsole console, ILoggerFactory loggerFactory, bool fancy)
{
    private readonly CordonEngineOptions _options = new();
    private int _failures;

    public static async Task<int> RunAsync(CliConsole console, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var doctor = new DoctorCommand(console, loggerFactory, UsesUtf8Terminal());
        return await doctor.RunChecksAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<int> RunChecksAsync(CancellationToken cancellationToken)
    {
        var jail = _options.Jail;
        Report(CheckRoot());
        Report(await CheckBwrapAsync(jail.BwrapPath, cancellationToken).ConfigureAwait(false));
        Report(CheckProgram("setpriv", jail.SetprivPath, "apt-get install util-linux"));
        Report(CheckProgram("prlimit", jail.PrlimitPath, "apt-get install util-linux"));
        foreach (var check in CheckUserNamespaces()) Report(check);
        foreach (var check in CheckCgroups(jail.CgroupMountRoot)) Report(check);
        Report(CheckLibseccomp());
        foreach (var check in UidRangeCheck.Run(jail.FirstUid, jail.UidCount, "/etc")) Report(check);

        RuntimeCatalog? catalog = null;
        try
        {
            catalog = RuntimeCatalog.Load(RuntimeCatalog.LocateDirectory());
            Report(CheckResult.Ok($"runtime manifests: {catalog.Manifests.Count} in {catalog.Directory}"));
        }
        catch (CordonException e)
        {
            Report(CheckResult.Fail("runtime manifests: " + e.Message, "keep the runtimes folder beside the cordon program or set CORDON_RUNTIMES to it"));
        }

        CordonEngine? engine = null;
        try
        {
            engine = CordonEngine.Create(_options, loggerFactory);
            Report(CheckResult.Ok("engine starts: host checks passed, seccomp filter built, janitor ran"));
        }
        catch (CordonException e)
        {
            // The jail layer's message points to `cordon doctor`, which is where we are.
            var message = e.Message.Replace(" Run `cordon doctor` for details.", "", StringComparison.Ordinal);
            Report(CheckResult.Fail($"engine cannot start ({e.CodeName}): {message}", EngineFix(e.Code)));
        }

        try
        {
            if (engine is not null) Report(await CheckJailAsync(engine, cancellationToken).ConfigureAwait(false));
            IReadOnlyList<RuntimeInfo> runtimes = [];
            if (catalog is not null)
            {
                runtimes = await catalog.ProbeAllAsync(cancellationToken).ConfigureAwait(false);
                foreach (var runtime in runtimes)
                {
                    Report(runtime.Available
                        ? CheckResult.Ok($"runtime {runtime.Name} {runtime.Version}")
                        : CheckResult.Warn($"runtime {runtime.Name} unavailable: {runtime.Problem}", runtime.Manifest.Install));
                }
                if (runtimes.Count > 0 && !runtimes.Any(r => r.Available))
                    Report(CheckResult.Fail("no runtime is available", "install at least one toolchain (see the lines above)"));
            }
            // Python is the reference smoke test; any working runtime proves the pipeline when it is missing.
            var smoke = runtimes.FirstOrDefault(r => r.Name == "python" && r.Available) ?? runtimes.FirstOrDefault(r => r.Available);
            if (engine is null) Report(CheckResult.Warn("smoke run skipped: the engine did not start"));
            else if (smoke is null) Report(CheckResult.Fail("smoke run skipped: no runtime is available", "install python3: apt-get install python3"));
            else Report(await CheckSmokeRunAsync(engine, smoke, cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            if (engine is not null) await engine.DisposeAsync().ConfigureAwait(false);
        }

        await console.Out.WriteLineAsync(_failures == 0
            ? "Everything Cordon needs works on this host."
            : $"{_failures} check{(_failures == 1 ? "" : "s")} failed; fix {(_failures == 1 ? "it" : "them")} and run `cordon doctor` again.").ConfigureAwait(false);
        return _failures == 0 ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }

    private void Report(CheckResult check)
    {
        if (check.Status == CheckStatus.Fail) _failures++;
        var mark = (check.Status, fancy) switch
        {
            (CheckStatus.Ok, true) => "✓",
            (CheckStatus.Warn, true) => "!",
            (CheckStatus.Fail, true) => "✗",
            (CheckStatus.Ok, false) => "ok  ",
            (CheckStatus.Warn, false) => "warn",
            _ => "FAIL",
        };
        console.Out.WriteLine($"{mark} {Outcome.OneLine(check.Title)}");
        if (check.Status != CheckStatus.Ok && check.Fix is { } fix)
            console.Out.WriteLine($"{new string(' ', mark.Length)}   fix: {Outcome.OneLine(fix)}");
    }

    // ✓ and ✗ only where they will render; a C locale or a log file gets ASCII.
    private static bool UsesUtf8Terminal()
    {
        var locale = Environment.GetEnvironmentVariable("LC_ALL") is { Length: > 0 } all ? all
            : Environment.GetEnvironmentVariable("LC_CTYPE") is { Length: > 0 } ctype ? ctype
            : Environment.GetEnvironmentVariable("LANG") ?? "";
        if (Console.IsOutputRedirected) return false;
        return locale.Contains("UTF-8", StringComparison.OrdinalIgnoreCase) || locale.Contains("UTF8", StringComparison.OrdinalIgnoreCase);
    }

    private static CheckResult CheckRoot()
    {
        if (Environment.IsPrivilegedProcess) return CheckResult.Ok("running as root");
        var uid = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal))?.Split('\t', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1) ?? "?";
        return CheckResult.Fail($"not running as root (uid {uid})", "run cordon as root (sudo cordon ...): it drops every jail to its own unprivileged uid");
    }

    private static async Task<CheckResult> CheckBwrapAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path)) return CheckResult.Fail($"bubblewrap not found at {path}", "apt-get install bubblewrap");
        var (exit, output) = await RunToolAsync(path, ["--version"], cancellationToken).ConfigureAwait(false);
        return exit == 0 && output.Length > 0
            ? CheckResult.Ok($"{output} at {path}")
            : CheckResult.Fail($"{path} --version failed (exit {exit}): {output}", "reinstall it: apt-get install --reinstall bubblewrap");
    }

    private static CheckResult CheckProgram(string name, string path, string fix) =>
        File.Exists(path) ? CheckResult.Ok($"{name} at {path}") : CheckResult.Fail($"{name} not found at {path}", fix);

    private static IEnumerable<CheckResult> CheckUserNamespaces()
    {
        var max = ReadSysctl("/proc/sys/user/max_user_namespaces");
        if (max is null) yield return CheckResult.Fail("user namespaces: /proc/sys/user/max_user_namespaces is missing (kernel without CONFIG_USER_NS?)", "use a kernel built with user namespaces");
        else if (max == 0) yield return CheckResult.Fail("user namespaces are disabled (user.max_user_namespaces = 0)", "sysctl -w user.max_user_namespaces=15000 (and persist it in /etc/sysctl.d)");
        else yield return CheckResult.Ok($"user namespaces enabled (user.max_user_namespaces = {max})");

        // Debian and Ubuntu kernels have extra switches that stop an unprivileged process (what each jail's
        // bubblewrap is) from creating a user namespace.
        if (ReadSysctl("/proc/sys/kernel/unprivileged_userns_clone") is 0)
            yield return CheckResult.Fail("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)", "sysctl -w kernel.unprivileged_userns_clone=1");
        if (ReadSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") is 1)
            yield return CheckResult.Fail("AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)",
                "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give /usr/bin/bwrap an AppArmor profile that allows userns");
    }

    private static IEnumerable<CheckResult> CheckCgroups(string mountRoot)
    {
        var layout = CgroupLayout.Detect(mountRoot);
        var missing = layout.Missing();
        var unifiedMount = Path.Combine(mountRoot, "unified");
        var hybrid = layout.Version == CgroupVersion.V1 && File.Exists(Path.Combine(unifiedMount, "cgroup.controllers"));
        var version = layout.Version == CgroupVersion.V2 ? "v2" : hybrid ? "hybrid (v1 controllers + cgroup2 at " + unifiedMount + ")" : "v1";
        if (missing.Count > 0)
        {
            yield return CheckResult.Fail($"cgroups {version}: missing {string.Join(", ", missing)}",
                layout.Version == CgroupVersion.V2
                    ? $"enable the controllers: echo '+memory +pids +cpu' > {mountRoot}/cgroup.subtree_control (under systemd: Delegate=yes)"
                    : $"mount each missing v1 controller, e.g. mkdir -p {mountRoot}/pids && mount -t cgroup -o pids cgroup {mountRoot}/pids");
            yield break;
        }
        var controllers = layout.Version == CgroupVersion.V2 ? "memory, pids, cpu" : "memory, pids, cpu, cpuacct" + (layout.FreezerRoot is null ? "" : ", freezer");
        yield return CheckResult.Ok($"cgroups {version}: {controllers}");

        var killAvailable = layout.Version == CgroupVersion.V2 ? Environment.OSVersion.Version >= new Version(5, 14) : layout.UnifiedRoot is not null;
        if (killAvailable) yield return CheckResult.Ok("cgroup.kill available: a run's whole process tree is killed at once");
        else if (layout.FreezerRoot is not null)
            yield return CheckResult.Warn(
                (hybrid
                    ? $"cgroup.kill not used: the jail layer looks for it at the root of {unifiedMount}, where the kernel never offers it"
                    : "cgroup.kill not available")
                + "; kills use the freezer and SIGKILL to each process instead (slower, equally thorough)",
                hybrid ? null : "mount cgroup2 at " + unifiedMount + " (Linux 5.14 or later) to use cgroup.kill");
        else yield return CheckResult.Fail("neither cgroup.kill nor a freezer cgroup: processes could outlive a run", "use Linux 5.14+ with cgroup2, or mount the v1 freezer controller");
    }

    private static CheckResult CheckLibseccomp()
    {
        // Only whether the library loads: the filter itself is built by the jail layer when the engine starts.
        foreach (var name in new[] { "libseccomp.so.2", "libseccomp.so" })
        {
            if (!NativeLibrary.TryLoad(name, out var handle)) continue;
            NativeLibrary.Free(handle);
            return CheckResult.Ok($"libseccomp loads ({name})");
        }
        return CheckResult.Fail("libseccomp cannot be loaded", "apt-get install libseccomp2");
    }

    private static string? EngineFix(CordonErrorCode code) => code switch
    {
        CordonErrorCode.SeccompFailed => "the seccomp filter could not be built: check libseccomp2 (2.5 or later) is installed; no jail runs without the filter",
        CordonErrorCode.CgroupFailed => "run as root, or give Cordon a delegated cgroup subtree (systemd: Delegate=yes)",
        CordonErrorCode.SystemCallFailed => "check that /run/cordon is writable and no other process holds its locks",
        _ => "fix the failures above",
    };

    private static async Task<CheckResult> CheckJailAsync(CordonEngine engine, CancellationToken cancellationToken)
    {
        var spec = new JailSpec
        {
            Argv = ["/bin/true"],
            Limits = JailLimits.Default with { WallTime = TimeSpan.FromSeconds(10) },
            Label = "doctor",
        };
        try
        {
            var result = await engine.Host.RunAsync(spec, cancellationToken).ConfigureAwait(false);
            return result.Verdict == Verdict.Ok
                ? CheckResult.Ok($"a jail starts (all namespaces new, seccomp on, cgroups joined) in {result.Usage.WallTime.TotalMilliseconds:0} ms")
                : CheckResult.Fail($"a jail does not start: {result.Verdict}: {result.InternalMessage ?? Encoding.UTF8.GetString(result.Stderr.Span)}",
                    "check the user namespace lines above; run with --verbose for bubblewrap's own message");
        }
        catch (CordonException e)
        {
            return CheckResult.Fail($"a jail does not start ({e.CodeName}): {e.Message}", "check the lines above; run with --verbose for details");
        }
    }

    private static async Task<CheckResult> CheckSmokeRunAsync(CordonEngine engine, RuntimeInfo runtime, CancellationToken cancellationToken)
    {
        var manifest = runtime.Manifest;
        var path = Path.Combine(manifest.Directory, manifest.TestProgram);
        try
        {
            var request = new ExecutionRequest
            {
                Language = manifest.Name,
                Files = [new ExecutionFile(manifest.TestProgram, await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false))],
            };
            var started = Stopwatch.GetTimestamp();
            var result = await engine.ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
            var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture);
            var stdout = result.Run is { } run ? Encoding.UTF8.GetString(run.Stdout.Span) : "";
            if (result.Verdict == Verdict.Ok && stdout.Trim() == "OK")
                return CheckResult.Ok($"smoke run: the {manifest.Name} test program printed OK in a jail ({ms} ms)");
            var stage = result.FinalStage;
            var detail = stage.InternalMessage ?? Encoding.UTF8.GetString(stage.Stderr.Span);
            return CheckResult.Fail($"smoke run: the {manifest.Name} test program ended {result.Verdict.ToString()} and printed '{stdout.Trim()}': {detail}",
                "run `cordon run --verbose " + path + "` to see what happens");
        }
        catch (Exception e) when (e is CordonException or IOException)
        {
            return CheckResult.Fail($"smoke run failed: {e.Message}", "fix the failures above and run `cordon doctor` again");
        }
    }

    private static long? ReadSysctl(string path)
    {
        try
        {
            return long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static async Task<(int Exit, string Output)> RunToolAsync(string program, string[] args, CancellationToken cancellationToken)
    {
        var result = await HostTool.RunAsync(program, args, TimeSpan.FromSeconds(10), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (result.TimedOut) throw new OperationCanceledException($"{program} did not answer within 10 s");
        return (result.ExitCode ?? -1, (result.Stdout + result.Stderr).Trim());
    }
}
