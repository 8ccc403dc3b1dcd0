using System.Net.Sockets;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>With network off (the default): no route out, no host unix sockets, no host abstract sockets.</summary>
public sealed class NetworkAttackTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    [Fact(Timeout = 60000)]
    public async Task Inet_netlink_packet_raw_and_other_socket_families_are_refused_by_socket_and_socketpair()
    {
        var result = await fixture.RunC("""
            #include <netinet/in.h>
            #include <linux/netlink.h>
            int main(void)
            {
                REPORT("inet_tcp", socket(AF_INET, SOCK_STREAM, 0));
                REPORT("inet_udp", socket(AF_INET, SOCK_DGRAM, 0));
                REPORT("inet6_tcp", socket(AF_INET6, SOCK_STREAM, 0));
                REPORT("inet_raw_icmp", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
                REPORT("inet_ping", socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP));
                REPORT("netlink_route", socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
                REPORT("packet", socket(AF_PACKET, SOCK_RAW, 0));
                REPORT("vsock", socket(AF_VSOCK, SOCK_STREAM, 0));
                REPORT("alg", socket(AF_ALG, SOCK_SEQPACKET, 0));
                REPORT("inet_high_bits", syscall(SYS_socket, (1UL << 32) | AF_INET, SOCK_STREAM, 0));
                int pair[2];
                REPORT("pair_inet", socketpair(AF_INET, SOCK_STREAM, 0, pair));
                REPORT("pair_netlink", socketpair(AF_NETLINK, SOCK_RAW, 0, pair));
                REPORT("pair_packet", socketpair(AF_PACKET, SOCK_RAW, 0, pair));
                REPORT("pair_tipc", socketpair(AF_TIPC, SOCK_STREAM, 0, pair));
                REPORT("pair_vsock", socketpair(AF_VSOCK, SOCK_STREAM, 0, pair));
                /* Unix sockets stay: programs use them among their own processes. */
                REPORT("unix", socket(AF_UNIX, SOCK_STREAM, 0));
                REPORT("pair_unix", socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
                return 0;
            }
            """);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        Assert.Equal(
            ["inet_tcp=EPERM", "inet_udp=EPERM", "inet6_tcp=EPERM", "inet_raw_icmp=EPERM", "inet_ping=EPERM", "netlink_route=EPERM",
             "packet=EPERM", "vsock=EPERM", "alg=EPERM", "inet_high_bits=EPERM",
             "pair_inet=EPERM", "pair_netlink=EPERM", "pair_packet=EPERM", "pair_tipc=EPERM", "pair_vsock=EPERM",
             "unix=OK", "pair_unix=OK"],
            SecurityFixture.Lines(result));
    }

    [Fact(Timeout = 60000)]
    public async Task Tcp_udp_and_dns_find_no_way_out()
    {
        var result = await fixture.Run("python", """
            import errno, socket
            try:
                socket.create_connection(('1.1.1.1', 53), timeout=2)
                print('tcp OK')
            except OSError as e:
                print('tcp', errno.errorcode.get(e.errno, e.errno))
            try:
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53))
                print('udp OK')
            except OSError as e:
                print('udp', errno.errorcode.get(e.errno, e.errno))
            try:
                socket.getaddrinfo('example.com', 443)
                print('dns OK')
            except socket.gaierror as e:
                print('dns', e.errno == socket.EAI_AGAIN and 'EAI_AGAIN' or e.errno)
            # The jail's network namespace has a loopback and no route.
            print('interfaces', sorted(line.split(':')[0].strip() for line in open('/proc/net/dev').readlines()[2:]))
            print('routes', len(open('/proc/net/route').readlines()) - 1)
            """);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        Assert.Equal(["tcp EPERM", "udp EPERM", "dns EAI_AGAIN", "interfaces ['lo']", "routes 0"], SecurityFixture.Lines(result));
    }

    private const string ConnectProgram = """
        #include <stddef.h>
        #include <sys/un.h>
        static void try_connect(const char *label, const char *name, int abstract)
        {
            int fd = socket(AF_UNIX, SOCK_STREAM, 0);
            struct sockaddr_un address;
            memset(&address, 0, sizeof address);
            address.sun_family = AF_UNIX;
            socklen_t length;
            if (abstract) {
                strcpy(address.sun_path + 1, name);
                length = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
            } else {
                strcpy(address.sun_path, name);
                length = sizeof address;
            }
            report(label, connect(fd, (struct sockaddr *)&address, length));
            close(fd);
        }
        int main(int argc, char **argv)
        {
            for (int i = 1; i + 1 < argc; i += 2)
                try_connect(argv[i + 1], argv[i + 1] + 1, argv[i][0] == 'a');
            return 0;
        }
        """;

    [Fact(Timeout = 60000)]
    public async Task Host_unix_sockets_are_unreachable()
    {
        var id = Guid.NewGuid().ToString("N")[..12];
        // Where host services keep their sockets: /tmp, /run, and Cordon's own state directory.
        string[] paths = [$"/tmp/cordon-sec-{id}.sock", $"/run/cordon-sec-{id}.sock", $"/run/cordon/cordon-sec-{id}.sock"];
        var listeners = paths.Select(path =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Bind(new UnixDomainSocketEndPoint(path));
            socket.Listen();
            File.SetUnixFileMode(path, (UnixFileMode)0x1FF); // 0777: only isolation, not permissions, may stop the jail
            return socket;
        }).ToList();
        try
        {
            // argv: "p" + path, and the label is the path itself (prefixed by a marker character that is skipped).
            var result = await fixture.RunC(ConnectProgram, args: [.. paths.SelectMany(p => new[] { "p", "=" + p })]);

            Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
            Assert.Equal(paths.Select(p => $"={p}=ENOENT").ToArray(), SecurityFixture.Lines(result));
            foreach (var listener in listeners) Assert.False(listener.Poll(0, SelectMode.SelectRead), "a connection reached the host");

            // The listeners were real: the host itself can connect to each of them.
            foreach (var path in paths)
            {
                using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await client.ConnectAsync(new UnixDomainSocketEndPoint(path));
            }
        }
        finally
        {
            foreach (var listener in listeners) listener.Dispose();
            foreach (var path in paths) File.Delete(path);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task Host_abstract_unix_socket_is_unreachable()
    {
        var name = "cordon-sec-" + Guid.NewGuid().ToString("N");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint("\0" + name));
        listener.Listen();

        var result = await fixture.RunC(ConnectProgram, args: ["a", "@" + name]);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        // Abstract sockets belong to a network namespace; the jail's own has nothing listening under that name.
        Assert.Equal([$"@{name}=ECONNREFUSED"], SecurityFixture.Lines(result));
        Assert.False(listener.Poll(0, SelectMode.SelectRead), "a connection reached the host");

        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint("\0" + name));
    }
}
