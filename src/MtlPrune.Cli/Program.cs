using System.CommandLine;
using MtlPrune.Cli;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using Spectre.Console;

var root = new RootCommand("mtlprune: prune pre-trained multi-task networks into compact sparse models for edge devices.");
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or ModelFormatException
                           or FormatException or NonFiniteException or KeyNotFoundException or MtlPrune.Engine.NN.StateDictException)
{
    AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
    return 1;
}
