using System.Net.Sockets;
using System.Runtime.InteropServices;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>Invariant 7: the jail's environment is exactly what the manifest and request set, and no host path shows.</summary>
public sealed class EnvironmentLeakTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    [Fact(Timeout = 60000)]
    public async Task Host_environment_variables_never_reach_the_jail_through_environ_files()
    {
        Assert.Equal(EnvironmentMarker.Value, Environment.GetEnvironmentVariable(EnvironmentMarker.Name));
        var result = await fixture.Run("python", """
            import os
            print('pid1_environ', repr(open('/proc/1/environ', 'rb').read()))
            seen = b''
            for pid in [p for p in os.listdir('/proc') if p.isdigit()] + ['self', 'thread-self']:
                try:
                    seen += open(f'/proc/{pid}/environ', 'rb').read()
                except OSError:
                    pass
            print('environ_bytes', len(seen) > 0)
            print(seen.decode(errors='replace'))
            print('keys', sorted(os.environ))
            """);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        var output = SecurityFixture.Text(result.Run!.Stdout) + SecurityFixture.Text(result.Run.Stderr);
        Assert.DoesNotContain(EnvironmentMarker.Name, output, StringComparison.Ordinal);
        Assert.DoesNotContain(EnvironmentMarker.Value, output, StringComparison.Ordinal);
        var lines = SecurityFixture.Lines(result);
        // bwrap's own pid 1 was started with an empty environment.
        Assert.Equal("pid1_environ b''", lines[0]);
        Assert.Equal("environ_bytes True", lines[1]);
        // The program's environment is the engine's base, the python manifest's, and the PWD bwrap sets.
        Assert.Equal("keys ['HOME', 'LANG', 'LC_ALL', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'PYTHONIOENCODING', 'TMPDIR']", lines[^1]);
    }

    [Fact(Timeout = 60000)]
    public async Task Descriptors_open_in_the_host_process_never_leak_into_a_jail()
    {
        // A server inherits descriptors without close-on-exec from whoever started it (systemd's socket activation,
        // a shell, a test runner). Make two such descriptors here: a host secret file and a listening socket.
        var secretPath = Path.Combine(Path.GetTempPath(), "cordon-fd-secret-" + Guid.NewGuid().ToString("N"));
        var secret = "fd-secret-" + Guid.NewGuid().ToString("N");
        await File.WriteAllTextAsync(secretPath, secret);
        var socketPath = secretPath + ".sock";
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen();
        using var file = File.OpenHandle(secretPath);
        var inheritedFile = HostDescriptors.Dup((int)file.DangerousGetHandle());
        var inheritedSocket = HostDescriptors.Dup((int)listener.Handle);
        // A client of the host's service is waiting in the listen queue: a jail holding the socket could take it.
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
        try
        {
            var result = await fixture.Run("python", """
                import os, socket
                fds = []
                for name in os.listdir('/proc/self/fd'):
                    try:
                        fds.append((int(name), os.readlink('/proc/self/fd/' + name)))
                    except OSError:
                        pass  # the descriptor listdir itself used, closed by now
                print('fds', sorted(fd for fd, _ in fds))
                for fd, target in sorted(fds):
                    if fd > 2:
                        print('leaked', fd, target)
                        try:
                            print('read', os.pread(fd, 200, 0))
                        except OSError as e:
                            print('read failed', e)
                        try:
                            leaked = socket.socket(fileno=fd)
                            leaked.setblocking(False)
                            leaked.accept()
                            print('accepted a host connection')
                        except OSError as e:
                            print('accept failed', e)
                """);

            Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
            Assert.False(SecurityFixture.Text(result.Run!.Stdout).Contains(secret, StringComparison.Ordinal), SecurityFixture.Describe(result));
            // Exactly stdin, stdout and stderr: nothing else of the host crossed into the jail.
            Assert.Equal(["fds [0, 1, 2]"], SecurityFixture.Lines(result));
            // The waiting client is still the host's to accept.
            Assert.True(listener.Poll(0, SelectMode.SelectRead), "the host's pending connection was taken");
        }
        finally
        {
            HostDescriptors.Close(inheritedFile);
            HostDescriptors.Close(inheritedSocket);
            File.Delete(secretPath);
            File.Delete(socketPath);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task Proc_cmdlines_show_no_host_paths_or_launcher_options()
    {
        var result = await fixture.Run("python", """
            import os, socket
            for pid in sorted(p for p in os.listdir('/proc') if p.isdigit()):
                print(pid, open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\0', b' ').decode().strip())
            print('hostname', socket.gethostname())
            """);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        var text = SecurityFixture.Text(result.Run!.Stdout);
        foreach (var forbidden in new[]
                 {
                     "/run/cordon", "/sys/fs/cgroup", fixture.Host.InstanceId, "setpriv", "prlimit", "--reuid", "--ro-bind",
                     "--setenv", "--seccomp", "--uid", "--bind", "--tmpfs",
                 })
        {
            Assert.DoesNotContain(forbidden, text, StringComparison.Ordinal);
        }
        // bwrap's options travel through a descriptor (--args): its command line names only the user's program.
        var lines = SecurityFixture.Lines(result);
        Assert.Equal(3, lines.Length);
        // Python runs through Cordon's launcher (cold and warm alike), which is a file of Cordon's, not of the host.
        Assert.Matches(@"^1 /usr/bin/bwrap --args \d+ -- python3 /opt/cordon/kernels/python/launcher\.py$", lines[0]);
        Assert.Equal(["2 python3 /opt/cordon/kernels/python/launcher.py", "hostname cordon"], lines[1..]);
    }
}

/// <summary>Descriptors made the old way (no close-on-exec), as a process inherits them from its parent.</summary>
internal static partial class HostDescriptors
{
    [LibraryImport("libc", EntryPoint = "dup", SetLastError = true)]
    private static partial int DupRaw(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int CloseRaw(int fd);

    public static int Dup(int fd)
    {
        var copy = DupRaw(fd);
        Assert.True(copy >= 0, $"dup failed: {Marshal.GetLastPInvokeError()}");
        return copy;
    }

    public static void Close(int fd) => CloseRaw(fd);
}
