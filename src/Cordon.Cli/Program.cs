using Cordon.Cli;

using var console = CliConsole.Standard();
return await CordonCli.RunAsync(args, console).ConfigureAwait(false);
