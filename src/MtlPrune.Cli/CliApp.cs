using System.CommandLine;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary>The `mtlprune` command tree; <see cref="Run"/> returns the process exit code (0 ok, 1 bad input).</summary>
public static class CliApp
{
    public static RootCommand Build()
    {
        var root = new RootCommand("mtlprune: prune pre-trained multi-task networks into compact sparse models for edge devices.");
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; known input errors print one red line and give exit code 1.</summary>
    public static int Run(string[] args)
    {
        try
        {
            return Build().Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or ModelFormatException
                                   or FormatException or NonFiniteException or KeyNotFoundException or MtlPrune.Engine.NN.StateDictException)
        {
            AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
            return 1;
        }
    }
}
