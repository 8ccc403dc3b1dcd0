using System.Buffers.Binary;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>
/// Invariant 4's "fails closed": a seccomp program the kernel refuses, or one that cannot be built, means the
/// program never runs, and the outcome blames Cordon (internal error), not the user.
/// </summary>
public sealed class SeccompFailClosedTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    private static byte[] Instructions(params (ushort Code, byte Jt, byte Jf, uint K)[] program)
    {
        var bytes = new byte[program.Length * 8];
        for (var i = 0; i < program.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 8), program[i].Code);
            bytes[(i * 8) + 2] = program[i].Jt;
            bytes[(i * 8) + 3] = program[i].Jf;
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((i * 8) + 4), program[i].K);
        }
        return bytes;
    }

    private const ushort RetK = 0x06;
    private const ushort JeqK = 0x15;
    private const uint Allow = 0x7fff0000;

    public static TheoryData<string> CorruptPrograms => ["empty", "not a whole instruction", "invalid opcodes", "jump past the end", "longer than BPF_MAXINSNS", "truncated real filter"];

    private static byte[] Corrupt(string kind) => kind switch
    {
        "empty" => [],
        "not a whole instruction" => [0x06, 0, 0, 0, 0, 0, 0x7f],
        "invalid opcodes" => Enumerable.Repeat((byte)0xff, 64).ToArray(),
        "jump past the end" => Instructions((JeqK, 200, 0, 0), (RetK, 0, 0, Allow)),
        "longer than BPF_MAXINSNS" => Instructions(Enumerable.Repeat((RetK, (byte)0, (byte)0, Allow), 4097).ToArray()),
        // Cut in the middle, the real program no longer ends with a return: the kernel refuses it.
        "truncated real filter" => SeccompFilter.Build(allowNetwork: false) is var real ? real[..(real.Length / 16 * 8)] : [],
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory(Timeout = 60000)]
    [MemberData(nameof(CorruptPrograms))]
    public async Task A_corrupt_seccomp_filter_means_no_run_and_an_internal_error(string kind)
    {
        var program = Corrupt(kind);
        if (kind == "truncated real filter")
        {
            var last = BinaryPrimitives.ReadUInt16LittleEndian(program.AsSpan(program.Length - 8));
            Assert.True((last & 0x07) != 0x06, "the cut must not end on a return instruction");
        }
        fixture.Host.SeccompProgram = _ => program;
        try
        {
            var jail = await fixture.Host.StartAsync(SecurityFixture.Shell("touch ran; echo RAN; exit 0"));
            await using (jail)
            {
                var result = await jail.RunAsync();
                Assert.True(result.Verdict == Verdict.InternalError, SecurityFixture.Describe(result));
                Assert.Contains("seccomp", result.InternalMessage, StringComparison.OrdinalIgnoreCase);
                Assert.NotEqual(0, result.ExitCode);
                Assert.Equal(0, result.Stdout.Length);
                // The program never ran: it would have left this file.
                Assert.False(File.Exists(Path.Combine(jail.WorkDirectory, "ran")));
            }
        }
        finally
        {
            fixture.Host.SeccompProgram = SeccompFilter.Build;
        }
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task A_corrupt_seccomp_filter_through_the_engine_is_an_internal_error_not_the_users_fault()
    {
        fixture.Host.SeccompProgram = _ => Corrupt("invalid opcodes");
        try
        {
            var result = await fixture.Run("bash", "echo RAN");
            Assert.True(result.Verdict == Verdict.InternalError, SecurityFixture.Describe(result));
            Assert.Equal(0, result.Run!.Stdout.Length);
            Assert.Contains("seccomp", result.Run.InternalMessage, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            fixture.Host.SeccompProgram = SeccompFilter.Build;
        }
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task A_filter_that_cannot_be_built_means_no_jail_starts_and_nothing_is_left()
    {
        var builds = 0;
        fixture.Host.SeccompProgram = _ =>
        {
            builds++;
            throw new CordonException(CordonErrorCode.SeccompFailed, "Could not build the seccomp filter: simulated libseccomp failure.");
        };
        try
        {
            var pipesBefore = OpenPipes();
            for (var i = 0; i < 10; i++)
            {
                var e = await Assert.ThrowsAsync<CordonException>(() => fixture.Host.StartAsync(SecurityFixture.Shell("echo RAN")));
                Assert.Equal(CordonErrorCode.SeccompFailed, e.Code);
            }
            var e2 = await Assert.ThrowsAsync<CordonException>(() => fixture.Run("bash", "echo RAN"));
            Assert.Equal(CordonErrorCode.SeccompFailed, e2.Code);
            Assert.Equal(11, builds);
            // No jail got as far as a pipe: ten failed starts hold no descriptor of the host.
            Assert.InRange(OpenPipes() - pipesBefore, -4, 4);
        }
        finally
        {
            fixture.Host.SeccompProgram = SeccompFilter.Build;
        }
        await HostInspector.AssertNothingLeftAsync(fixture.Host);

        // And the host is not poisoned: with the real filter the next jail runs.
        var ok = await fixture.Run("bash", "echo RAN");
        Assert.Equal("RAN\n", SecurityFixture.Text(ok.Run!.Stdout));
    }

    private static int OpenPipes() =>
        Directory.EnumerateFileSystemEntries("/proc/self/fd")
            .Count(fd => new FileInfo(fd).LinkTarget?.StartsWith("pipe:", StringComparison.Ordinal) == true);
}
