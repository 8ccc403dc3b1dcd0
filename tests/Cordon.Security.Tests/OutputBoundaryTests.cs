using System.Security.Cryptography;
using System.Text;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>What crosses the boundary as data: output bytes, argv and stdin, at their extremes.</summary>
public sealed class OutputBoundaryTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    [Fact(Timeout = 60000)]
    public async Task Non_utf8_bytes_nul_and_terminal_escapes_in_output_come_back_byte_exact()
    {
        var result = await fixture.RunC("""
            int main(void)
            {
                unsigned char all[256];
                for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
                for (int i = 0; i < 4; i++) fwrite(all, 1, sizeof all, stdout);
                static const char escapes[] = "\x1b[2J\x1b]0;owned\x07\x1b[6n\r\x9b" "31m\0after-nul";
                fwrite(escapes, 1, sizeof escapes - 1, stdout);
                fflush(stdout);
                static const unsigned char invalid[] = { 0xc3, 0x28, 0xf0, 0x28, 0x8c, 0xbc, 0x80, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xff, 0xfe, 0x00 };
                fwrite(invalid, 1, sizeof invalid, stderr);
                return 0;
            }
            """);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        byte[] expectedStdout = [.. all, .. all, .. all, .. all, .. "\x1b[2J\x1b]0;owned\x07\x1b[6n\r"u8, 0x9b, .. "31m\0after-nul"u8];
        byte[] expectedStderr = [0xc3, 0x28, 0xf0, 0x28, 0x8c, 0xbc, 0x80, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xff, 0xfe, 0x00];
        Assert.Equal(expectedStdout, result.Run!.Stdout.ToArray());
        Assert.Equal(expectedStderr, result.Run.Stderr.ToArray());
        Assert.Equal(expectedStdout.Length + expectedStderr.Length, result.Run.Output.Length);
        Assert.False(result.Run.StdoutTruncated || result.Run.StderrTruncated);
    }

    [Fact(Timeout = 60000)]
    public async Task Huge_argv_arrives_intact_without_a_shell_and_oversized_argv_is_refused()
    {
        // Shell metacharacters and odd bytes in every argument: they must arrive literally, nothing interprets them.
        string[] odd = ["$(touch /work/pwned)", "`id`", "; rm -rf /", "a b\tc\nd", "\"quoted\" 'single'", "\\back\\slash", "ünï©ødé ✓", "--help", "-c", "*", ""];
        var args = Enumerable.Range(0, 1000).Select(i => $"{i:D4}{odd[i % odd.Length]}".PadRight(62, '.')).ToArray();
        Assert.InRange(args.Sum(a => Encoding.UTF8.GetByteCount(a) + 1), 60_000, ExecutionRequest.MaxArgBytes);
        var expected = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\0', args))));

        var result = await fixture.Run("python", """
            import hashlib, os, sys
            args = sys.argv[1:]
            print(len(args), hashlib.sha256('\0'.join(args).encode()).hexdigest(), os.path.exists('/work/pwned'))
            """, args: args);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        Assert.Equal($"1000 {expected} False\n", SecurityFixture.Text(result.Run!.Stdout));

        // Past the engine's bound (and one argument past the kernel's 128 KiB): refused before any jail, not E2BIG.
        foreach (var tooMany in new[] { args.Concat(args.Take(200)).ToArray(), [new string('x', 200 * 1024)] })
        {
            var e = await Assert.ThrowsAsync<CordonException>(() => fixture.Run("python", "print(1)", args: tooMany));
            Assert.Equal(CordonErrorCode.InvalidRequest, e.Code);
            Assert.Equal([$"arguments exceed {ExecutionRequest.MaxArgBytes} bytes"], e.Errors);
        }
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task Huge_stdin_arrives_intact_and_oversized_stdin_is_refused()
    {
        var stdin = new byte[10 * 1024 * 1024];
        Random.Shared.NextBytes(stdin);
        var expected = Convert.ToHexStringLower(SHA256.HashData(stdin));

        var result = await fixture.Run("python", """
            import hashlib, sys
            data = sys.stdin.buffer.read()
            print(len(data), hashlib.sha256(data).hexdigest())
            """, stdin: stdin);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        Assert.Equal($"{stdin.Length} {expected}\n", SecurityFixture.Text(result.Run!.Stdout));

        var limit = JailLimits.Default.StdinBytes;
        var e = await Assert.ThrowsAsync<CordonException>(() => fixture.Run("python", "print(1)", stdin: new byte[limit + 1]));
        Assert.Equal(CordonErrorCode.InvalidRequest, e.Code);
        Assert.Equal([$"stdin is {limit + 1} bytes; at most {limit} are allowed"], e.Errors);
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }
}
