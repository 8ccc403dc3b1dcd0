namespace Cordon.Cli.Tests;

public sealed class Uid_range_check : IDisposable
{
    private readonly TempDir _etc = new();

    public void Dispose() => _etc.Dispose();

    [Fact]
    public void A_free_range_passes()
    {
        _etc.Write("passwd", "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n");
        _etc.Write("group", "root:x:0:\n");
        _etc.Write("subuid", "alice:100000:65536\n");
        var check = Assert.Single(UidRangeCheck.Run(1_900_000, 4096, _etc.Path));
        Assert.Equal(CheckStatus.Ok, check.Status);
    }

    [Fact]
    public void Missing_files_have_nothing_to_overlap()
    {
        Assert.Equal(CheckStatus.Ok, Assert.Single(UidRangeCheck.Run(1_900_000, 4096, _etc.Path)).Status);
    }

    [Fact]
    public void An_account_or_group_inside_the_range_fails_and_is_named()
    {
        _etc.Write("passwd", "svc:x:1900010:1900010::/:/bin/false\n");
        _etc.Write("group", "svcgrp:x:1904095:\n");
        var check = Assert.Single(UidRangeCheck.Run(1_900_000, 4096, _etc.Path));
        Assert.Equal(CheckStatus.Fail, check.Status);
        Assert.Contains("user svc (1900010)", check.Title, StringComparison.Ordinal);
        Assert.Contains("group svcgrp (1904095)", check.Title, StringComparison.Ordinal);
        Assert.NotNull(check.Fix);
    }

    [Fact]
    public void An_overlapping_subordinate_range_fails()
    {
        _etc.Write("subgid", "bob:1899000:2000\n");
        var check = Assert.Single(UidRangeCheck.Run(1_900_000, 4096, _etc.Path));
        Assert.Equal(CheckStatus.Fail, check.Status);
        Assert.Contains("bob's range 1899000-1900999 in /etc/subgid", check.Title, StringComparison.Ordinal);
    }

    [Fact]
    public void A_range_that_ends_just_before_passes()
    {
        _etc.Write("subuid", "bob:1895904:4096\n");
        Assert.Equal(CheckStatus.Ok, Assert.Single(UidRangeCheck.Run(1_900_000, 4096, _etc.Path)).Status);
    }
}
