// The attacks are timed against CPU and wall limits on a small machine, and the "leaves nothing" checks look at the
// whole host: run the classes one after another so no test's jails show up in another's view of the host.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
