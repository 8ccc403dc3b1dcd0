using Cordon.Jail.Interop;
using Microsoft.Extensions.Logging;

namespace Cordon.Jail;

/// <summary>
/// Removes what Cordon processes that died without cleaning up left behind: their jails' processes (killed through
/// the cgroup), cgroups, work mounts and directories. An instance is dead when its lock file can be locked.
/// </summary>
public static class Janitor
{
    /// <summary>Sweeps every dead instance on this host. Returns how many instances were reaped.</summary>
    public static int Sweep(JailHostOptions options, CgroupLayout layout, ILogger logger, string? exceptInstance)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(layout);
        var reaped = 0;
        var instances = Path.Combine(options.StateDirectory, "instances");
        var candidates = new HashSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(instances))
            candidates.UnionWith(Directory.EnumerateDirectories(instances).Select(Path.GetFileName).OfType<string>());
        foreach (var root in layout.Roots())
        {
            var cordon = Path.Combine(root, options.CgroupName);
            if (Directory.Exists(cordon))
                candidates.UnionWith(Directory.EnumerateDirectories(cordon).Select(Path.GetFileName).OfType<string>());
        }
        foreach (var instance in candidates)
        {
            if (instance == exceptInstance) continue;
            // A dot-name is an instance being created; only a stale one (its creator died mid-way) is swept.
            if (instance.StartsWith('.') && Directory.GetLastWriteTimeUtc(Path.Combine(instances, instance)) > DateTime.UtcNow.AddMinutes(-1)) continue;
            var lockPath = Path.Combine(instances, instance, "lock");
            using var handle = File.Exists(lockPath)
                ? Libc.OpenAt(null, lockPath, Libc.O_RDWR | Libc.O_NOFOLLOW, 0, out _)
                : null;
            // Alive: its owner holds the lock. A missing lock with a cgroup left means the directory went first.
            if (handle is not null && !Libc.TryLockExclusive(handle)) continue;
            if (handle is null && File.Exists(lockPath)) continue;
            RemoveInstance(options, layout, instance, logger);
            reaped++;
        }
        return reaped;
    }

    /// <summary>Kills and removes everything of one instance (its owner is dead or is this process, shutting down).</summary>
    public static void RemoveInstance(JailHostOptions options, CgroupLayout layout, string instance, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(layout);
        var cgroups = 0;
        var jailIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var root in layout.Roots())
        {
            var dir = Path.Combine(root, options.CgroupName, instance);
            if (Directory.Exists(dir))
                jailIds.UnionWith(Directory.EnumerateDirectories(dir).Select(Path.GetFileName).OfType<string>());
        }
        foreach (var jailId in jailIds)
        {
            var cgroup = JailCgroup.Open(layout, $"{options.CgroupName}/{instance}/{jailId}");
            try
            {
                cgroup.KillAllAsync().GetAwaiter().GetResult();
            }
            catch (CordonException e)
            {
                logger.LogWarning(e, "Janitor could not empty cgroup of jail {JailId}", jailId);
            }
            if (cgroup.TryRemove()) cgroups++;
        }
        foreach (var root in layout.Roots())
        {
            var dir = Path.Combine(root, options.CgroupName, instance);
            try
            {
                if (Directory.Exists(dir)) Directory.Delete(dir);
            }
            catch (IOException)
            {
                // Still busy: the next sweep tries again.
            }
        }

        var directories = 0;
        var instanceDir = Path.Combine(options.StateDirectory, "instances", instance);
        var jails = Path.Combine(instanceDir, "jails");
        if (Directory.Exists(jails))
        {
            foreach (var jail in Directory.EnumerateDirectories(jails))
            {
                var work = Path.Combine(jail, "work");
                try
                {
                    // A mount may sit on top of another if a path was reused; unmount until none is left.
                    while (Libc.Unmount(work))
                    {
                    }
                    Directory.Delete(jail, recursive: true);
                    directories++;
                }
                catch (Exception e) when (e is IOException or CordonException or UnauthorizedAccessException)
                {
                    logger.LogWarning(e, "Janitor could not remove {Directory}", jail);
                }
            }
        }
        try
        {
            if (Directory.Exists(instanceDir)) Directory.Delete(instanceDir, recursive: true);
        }
        catch (IOException e)
        {
            logger.LogWarning(e, "Janitor could not remove {Directory}", instanceDir);
        }
        if (cgroups + directories > 0) Log.JanitorReaped(logger, instance, cgroups, directories);
    }
}
