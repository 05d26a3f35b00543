using MtlPrune.Cli;
using Spectre.Console;

namespace MtlPrune.Cli.Tests;

/// <summary>Runs the CLI in-process with its output captured, as piped output is (no colour, no animation, 200 columns).</summary>
internal static class CliRunner
{
    private static readonly object ConsoleLock = new();

    public static (int Code, string Output) Run(params string[] args)
    {
        lock (ConsoleLock)
        {
            var writer = new StringWriter();
            var oldOut = Console.Out;
            var oldAnsi = AnsiConsole.Console;
            Console.SetOut(writer);
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
            });
            AnsiConsole.Profile.Width = 200;      // as CliApp.ConfigureConsole sets for redirected output
            try { return (CliApp.Run(args), writer.ToString()); }
            finally { Console.SetOut(oldOut); AnsiConsole.Console = oldAnsi; }
        }
    }

}

/// <summary>Tests that swap the process-wide console run one at a time.</summary>
[CollectionDefinition("console", DisableParallelization = true)]
public sealed class ConsoleCollection;
