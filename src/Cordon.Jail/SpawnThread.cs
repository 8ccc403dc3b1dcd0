using System.Collections.Concurrent;

namespace Cordon.Jail;

/// <summary>
/// The one long-lived thread that starts every jail. bubblewrap's --die-with-parent is PR_SET_PDEATHSIG, which
/// fires when the spawning thread exits; spawning from pool threads would kill jails at random.
/// </summary>
internal static class SpawnThread
{
    private static readonly BlockingCollection<Action> Work = new();

    /// <summary>
    /// Held shared while an executable file is open for writing, and exclusively around each spawn. A child made by
    /// fork or vfork holds every descriptor of this process until it execs, and a file open for writing anywhere
    /// cannot be executed (ETXTBSY): a spawn while a compiled program is being written into a jail would make that
    /// jail's exec fail.
    /// </summary>
    internal static readonly ReaderWriterLockSlim ExecutableWrites = new(LockRecursionPolicy.NoRecursion);
    private static readonly Thread Thread = StartThread();

    private static Thread StartThread()
    {
        var thread = new Thread(() =>
        {
            foreach (var action in Work.GetConsumingEnumerable()) action();
        })
        {
            IsBackground = true,
            Name = "cordon-spawn",
        };
        thread.Start();
        return thread;
    }

    /// <summary>Runs <paramref name="spawn"/> on the spawn thread.</summary>
    public static Task<int> Run(Func<int> spawn)
    {
        _ = Thread;
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Work.Add(() =>
        {
            ExecutableWrites.EnterWriteLock();
            try
            {
                done.SetResult(spawn());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
            finally
            {
                ExecutableWrites.ExitWriteLock();
            }
        });
        return done.Task;
    }
}
