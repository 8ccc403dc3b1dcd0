# Cordon's exec launcher: inside a jail, waits for a command on descriptor 3 (NUL-separated argv), then execs it.
# exec replaces this process and perl leaves the environment untouched, so the program runs exactly as if it had
# been started directly: a warm pool uses it to have the jail (namespaces, mounts, cgroup) ready before a request.
use strict;
use warnings;
open(my $in, '<&=', 3) or die "cordon launcher: descriptor 3: $!\n";
binmode($in);
local $/;
my $data = <$in>;
close($in);
$data = '' unless defined $data;
my @argv = split(/\0/, $data, -1);
pop @argv if @argv && $argv[-1] eq '';
die "cordon launcher: no program given\n" unless @argv;
exec { $argv[0] } @argv or die "cordon launcher: cannot run $argv[0]: $!\n";
