using System.CommandLine;
using System.CommandLine.Help;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary>The `mtlprune` command tree; <see cref="Run"/> returns the process exit code (0 ok, 1 bad input).</summary>
public static class CliApp
{
    /// <summary>
    /// The command tree. The root is a plain command named <c>mtlprune</c> (a <c>RootCommand</c> takes the name of the
    /// executable, here the assembly's), with the help and version options a root command would add.
    /// </summary>
    public static Command Build()
    {
        var root = new Command("mtlprune", "mtlprune: prune pre-trained multi-task networks into compact sparse models for edge devices.")
        {
            new HelpOption(), new VersionOption(),
        };
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(PruneCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        root.Subcommands.Add(ImportCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(InferCommand.Create());
        return root;
    }

    /// <summary>
    /// Sets up the console for the real executable: when output is redirected (a pipe, a file, CI) or <c>NO_COLOR</c> is
    /// set, Spectre writes no escape codes, no colours and no animation, and lays tables out 200 columns wide instead of
    /// wrapping them at 80.
    /// </summary>
    public static void ConfigureConsole()
    {
        bool redirected = Console.IsOutputRedirected;
        if (!redirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"))) return;
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors,
            Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect, Out = new AnsiConsoleOutput(Console.Out),
        });
        if (redirected) AnsiConsole.Profile.Width = 200;
    }

    /// <summary>Parses and runs <paramref name="args"/>; known input errors print one red line and give exit code 1.</summary>
    public static int Run(string[] args)
    {
        MtlPrune.Data.SampleGuard.Warn = m => ConsoleUi.Line($"[yellow]warning:[/] {Markup.Escape(m)}");
        try
        {
            return Build().Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or ModelFormatException
                                   or FormatException or NonFiniteException or KeyNotFoundException or MtlPrune.Engine.NN.StateDictException
                                   or MtlPrune.Data.BadSampleException)
        {
            AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
            return 1;
        }
    }
}
