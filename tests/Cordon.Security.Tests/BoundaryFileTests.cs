using System.Collections.Immutable;
using System.Diagnostics;
using System.Text;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>
/// Files crossing the boundary: what a jail leaves in its work directory (links, FIFOs, sockets, hardlinks) is read
/// by the host as a root process, and what a request submits is written by it.
/// </summary>
public sealed class BoundaryFileTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>, IDisposable
{
    // A host file the jail knows the path of (it is in the test's source) but must never get the host to touch.
    private readonly string _canary = Path.Combine(Path.GetTempPath(), "cordon-canary-" + Guid.NewGuid().ToString("N"));
    private const string CanaryContent = "host canary: must stay unread and unchanged\n";

    public void Dispose() => File.Delete(_canary);

    private async Task<(Jail.Jail Jail, JailRunResult Result)> LeaveInWorkDirectory(string script)
    {
        // The jail has ended but is not disposed: its work directory is still there for the host to read.
        var jail = await fixture.Host.StartAsync(SecurityFixture.Shell(script));
        try
        {
            var result = await jail.RunAsync();
            Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
            return (jail, result);
        }
        catch
        {
            await jail.DisposeAsync();
            throw;
        }
    }

    private static CordonException Refused(Action read, Errno? errno = null)
    {
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<CordonException>(read);
        // Never blocking: a refusal comes at once, not after a FIFO or a lock times out.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"the host took {watch.Elapsed} to refuse");
        Assert.Equal(CordonErrorCode.UnsafePath, e.Code);
        if (errno is not null) Assert.Equal(errno, e.Errno);
        return e;
    }

    [Fact(Timeout = 60000)]
    public async Task Symlinks_left_in_the_work_dir_are_never_followed_by_the_host()
    {
        File.WriteAllText(_canary, CanaryContent);
        var (jail, _) = await LeaveInWorkDirectory($"""
            ln -s /etc/shadow out.txt
            ln -s {_canary} canary.txt
            ln -s /etc sub
            ln -s {Path.GetDirectoryName(_canary)} hosttmp
            mkdir deep && ln -s ../../../../../../../etc/passwd deep/up.txt
            echo mine > real.txt
            """);
        await using (jail)
        {
            Assert.Contains("is a symbolic link", Refused(() => JailFiles.Read(jail.WorkDirectory, "out.txt", 1 << 20), Errno.ELOOP).Message, StringComparison.Ordinal);
            Refused(() => JailFiles.Read(jail.WorkDirectory, "canary.txt", 1 << 20), Errno.ELOOP);
            Refused(() => JailFiles.Read(jail.WorkDirectory, "deep/up.txt", 1 << 20), Errno.ELOOP);
            // A linked directory is not entered either, for reading or for writing.
            Refused(() => JailFiles.Read(jail.WorkDirectory, "sub/shadow", 1 << 20));
            Refused(() => jail.WriteFile("sub/cordon-written", "x"u8));
            Refused(() => jail.WriteFile("hosttmp/" + Path.GetFileName(_canary), "overwritten"u8));
            // Writing through a link the jail left is refused, not followed onto the host file.
            Refused(() => jail.WriteFile("canary.txt", "overwritten"u8), Errno.ELOOP);

            Assert.Equal(["real.txt"], JailFiles.ListRegularFiles(jail.WorkDirectory));
            Assert.Equal("mine\n", Encoding.UTF8.GetString(JailFiles.Read(jail.WorkDirectory, "real.txt", 1 << 20)));
        }
        Assert.Equal(CanaryContent, File.ReadAllText(_canary));
        Assert.False(File.Exists("/etc/cordon-written"));
    }

    [Fact(Timeout = 60000)]
    public async Task Fifos_sockets_and_devices_left_in_the_work_dir_never_block_or_reach_the_host()
    {
        var (jail, result) = await LeaveInWorkDirectory("""
            mkfifo fifo out.txt
            mkdir nested && mkfifo nested/result.json
            python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'
            mknod null c 1 3 2>/dev/null && echo mknod=OK || echo mknod=refused
            """);
        await using (jail)
        {
            Assert.Equal("mknod=refused\n", SecurityFixture.Text(result.Stdout));
            foreach (var name in new[] { "fifo", "out.txt", "nested/result.json" })
            {
                Assert.Contains("is not a regular file", Refused(() => JailFiles.Read(jail.WorkDirectory, name, 1 << 20)).Message, StringComparison.Ordinal);
                // Writing into a FIFO nobody reads would block a naive host: it is refused at once too.
                Refused(() => jail.WriteFile(name, "x"u8));
            }
            Refused(() => JailFiles.Read(jail.WorkDirectory, "sock", 1 << 20));
            Refused(() => JailFiles.Read(jail.WorkDirectory, "null", 1 << 20), Errno.ENOENT);
            Assert.Empty(JailFiles.ListRegularFiles(jail.WorkDirectory));
        }
    }

    [Fact(Timeout = 60000)]
    public async Task Hardlinks_to_host_files_cannot_be_made_in_the_work_dir()
    {
        var (jail, result) = await LeaveInWorkDirectory("""
            echo own > /tmp/own
            echo mine > orig.txt
            n=0
            for target in /etc/passwd /etc/ld.so.cache /usr/bin/su /tmp/own orig.txt; do
                if msg=$(ln "$target" "hard$n" 2>&1); then echo "$target=OK"; else echo "$target=${msg##*: }"; fi
                n=$((n + 1))
            done
            """);
        await using (jail)
        {
            // The work directory is a tmpfs of its own: a hardlink can only point inside it (EXDEV otherwise).
            Assert.Equal(
                ["/etc/passwd=Invalid cross-device link", "/etc/ld.so.cache=Invalid cross-device link",
                 "/usr/bin/su=Invalid cross-device link", "/tmp/own=Invalid cross-device link", "orig.txt=OK"],
                SecurityFixture.Text(result.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries));
            for (var i = 0; i < 4; i++) Refused(() => JailFiles.Read(jail.WorkDirectory, $"hard{i}", 1 << 20), Errno.ENOENT);
            // The one link that could be made is to the jail's own file: the host reads only the jail's bytes.
            Assert.Equal("mine\n", Encoding.UTF8.GetString(JailFiles.Read(jail.WorkDirectory, "hard4", 1 << 20)));
        }
    }

    [Fact(Timeout = 60000)]
    public async Task Submitted_file_names_with_traversal_or_odd_characters_are_refused_listing_every_error()
    {
        string[] bad = ["../x", "/etc/passwd", "a//b", "a\0b", "..", ".", "sub/../../x", "dir/", "", new string('a', 300), "main.py"];
        var request = new ExecutionRequest
        {
            Language = "python",
            Files = [new ExecutionFile("main.py", "print('ran')"u8.ToArray()), .. bad.Select(n => new ExecutionFile(n, "x"u8.ToArray()))],
        };

        var e = await Assert.ThrowsAsync<CordonException>(() => fixture.Engine.ExecuteAsync(request));
        Assert.Equal(CordonErrorCode.InvalidRequest, e.Code);
        Assert.Equal(bad.Length, e.Errors.Count);
        for (var i = 0; i < bad.Length; i++) Assert.StartsWith($"files[{i + 1}] ", e.Errors[i], StringComparison.Ordinal);
        Assert.Contains("is given twice", e.Errors[^1], StringComparison.Ordinal);
        Assert.DoesNotContain('\0', e.Message);
        await HostInspector.AssertNothingLeftAsync(fixture.Host);

        // The file layer refuses the same names on its own, creating nothing anywhere.
        var root = Directory.CreateTempSubdirectory("cordon-names-");
        try
        {
            var work = Directory.CreateDirectory(Path.Combine(root.FullName, "work")).FullName;
            foreach (var name in bad.Take(bad.Length - 1))
            {
                var refused = Assert.Throws<CordonException>(() => JailFiles.Write(work, name, "x"u8, 65534));
                Assert.Equal(CordonErrorCode.UnsafePath, refused.Code);
            }
            Assert.Equal([work], Directory.EnumerateFileSystemEntries(root.FullName, "*", SearchOption.AllDirectories));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task Submitted_files_that_do_not_fit_the_work_dir_are_refused_as_cordon_errors_not_raw_io_faults()
    {
        var request = new ExecutionRequest
        {
            Language = "python",
            Files = [new ExecutionFile("main.py", "print('ran')"u8.ToArray()), new ExecutionFile("big.bin", new byte[1024 * 1024])],
            RunLimits = new LimitOverrides { WorkDirBytes = 64 * 1024 },
        };

        var e = await Assert.ThrowsAsync<CordonException>(() => fixture.Engine.ExecuteAsync(request));
        Assert.Equal(CordonErrorCode.UnsafePath, e.Code);
        Assert.Equal(Errno.ENOSPC, e.Errno);
        Assert.Contains("'big.bin' (1048576 bytes) does not fit in the work directory", e.Message, StringComparison.Ordinal);
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task Malformed_requests_are_refused_listing_every_error()
    {
        var shape = new ExecutionRequest
        {
            Language = " ",
            Files = [.. Enumerable.Range(0, ExecutionRequest.MaxFiles + 1).Select(i => new ExecutionFile($"f{i}.py", new byte[200_000]))],
            Args = ["ok", "nul\0inside"],
        };
        var e = await Assert.ThrowsAsync<CordonException>(() => fixture.Engine.ExecuteAsync(shape));
        Assert.Equal(CordonErrorCode.InvalidRequest, e.Code);
        Assert.Equal(4, e.Errors.Count);
        Assert.Contains(e.Errors, m => m.Contains("language", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains($"at most {ExecutionRequest.MaxFiles} files", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains("bytes; at most", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains("NUL", StringComparison.Ordinal));

        var limits = new ExecutionRequest
        {
            Language = "python",
            Files = [new ExecutionFile("main.py", "print('ran')"u8.ToArray())],
            Stdin = new byte[JailLimits.Default.StdinBytes + 1],
            RunLimits = new LimitOverrides { MemoryBytes = -1, WallTimeMs = 0, CpuCores = double.NaN, OpenFiles = 1 },
        };
        e = await Assert.ThrowsAsync<CordonException>(() => fixture.Engine.ExecuteAsync(limits));
        Assert.Equal(CordonErrorCode.InvalidRequest, e.Code);
        Assert.Equal(5, e.Errors.Count);
        Assert.Contains(e.Errors, m => m.Contains("memory", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains("wall time", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains("CPU cores", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains("open files", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains("stdin", StringComparison.Ordinal));
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }
}
