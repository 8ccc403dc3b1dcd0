namespace Cordon.Cli.Tests;

public sealed class Size_parser
{
    [Theory]
    [InlineData("1048576", 1048576L)]
    [InlineData("0", 0L)]
    [InlineData("512k", 512L * 1024)]
    [InlineData("512K", 512L * 1024)]
    [InlineData("512KB", 512L * 1024)]
    [InlineData("256M", 256L * 1024 * 1024)]
    [InlineData("64MiB", 64L * 1024 * 1024)]
    [InlineData("64mib", 64L * 1024 * 1024)]
    [InlineData("1G", 1L << 30)]
    [InlineData("1.5G", 3L << 29)]
    [InlineData("2T", 2L << 40)]
    [InlineData("100B", 100L)]
    [InlineData(" 8 M ", 8L * 1024 * 1024)]
    public void Accepts_bytes_and_binary_units(string text, long expected) =>
        Assert.Equal(expected, Units.ParseSize(text));

    [Theory]
    [InlineData("12XB")]
    [InlineData("")]
    [InlineData("M")]
    [InlineData("-5M")]
    [InlineData("1,5G")]
    [InlineData("1.2.3M")]
    [InlineData("10 MB extra")]
    [InlineData("99999999999T")]
    [InlineData("NaN")]
    public void Rejects_anything_else(string text) =>
        Assert.Null(Units.ParseSize(text));

    [Theory]
    [InlineData(256L * 1024 * 1024, "256 MiB")]
    [InlineData(1L << 30, "1 GiB")]
    [InlineData(3L << 29, "1.5 GiB")]
    [InlineData(10L * 1024, "10 KiB")]
    [InlineData(1000L, "1000 bytes")]
    public void Prints_sizes_as_people_type_them(long bytes, string expected) =>
        Assert.Equal(expected, Units.FormatSize(bytes));
}

public sealed class Time_parser
{
    [Theory]
    [InlineData("2", 2000L)]
    [InlineData("0.5", 500L)]
    [InlineData("1.5s", 1500L)]
    [InlineData("500ms", 500L)]
    [InlineData("2m", 120000L)]
    [InlineData("0.0004", 0L)]
    [InlineData("0.0005", 1L)]
    public void Accepts_seconds_with_decimals_and_units(string text, long expectedMs) =>
        Assert.Equal(expectedMs, Units.ParseMilliseconds(text));

    [Theory]
    [InlineData("soon")]
    [InlineData("-1")]
    [InlineData("1h")]
    [InlineData("2 days")]
    [InlineData("100000")]
    [InlineData("")]
    public void Rejects_anything_else(string text) =>
        Assert.Null(Units.ParseMilliseconds(text));

    [Fact]
    public void Prints_seconds_without_needless_decimals()
    {
        Assert.Equal("2 s", Units.FormatSeconds(TimeSpan.FromSeconds(2)));
        Assert.Equal("0.5 s", Units.FormatSeconds(TimeSpan.FromMilliseconds(500)));
    }
}
