using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary>Where long commands report progress: (phase, done, total, optional detail such as current losses).</summary>
internal delegate void ProgressSink(string phase, int done, int total, string? detail = null);

/// <summary>
/// Console output of the long commands. On a terminal: animated progress bars with ETA. When the output is piped or
/// the console cannot animate (CI, tests): no colour codes and no animation, only plain lines — one per phase at each
/// tenth of the way and at the end, each with elapsed time and ETA.
/// </summary>
internal static class ConsoleUi
{
    /// <summary>True when output goes to a terminal that can show animated, coloured progress.</summary>
    public static bool Interactive =>
        !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive && AnsiConsole.Profile.Capabilities.Ansi;

    /// <summary>Prints a line (Spectre markup on a terminal, plain text otherwise).</summary>
    public static void Line(string markup) => AnsiConsole.MarkupLine(markup);

    /// <summary>Runs <paramref name="work"/>, showing the progress it reports.</summary>
    public static T Run<T>(Func<ProgressSink, T> work)
    {
        if (!Interactive)
        {
            var plain = new PlainProgress();
            return work(plain.Report);
        }
        T result = default!;
        AnsiConsole.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                result = work((phase, done, total, detail) =>
                {
                    if (!tasks.TryGetValue(phase, out var t)) tasks[phase] = t = ctx.AddTask(Markup.Escape(phase), maxValue: Math.Max(total, 1));
                    t.MaxValue = Math.Max(total, 1);
                    t.Value = done;
                    t.Description = Markup.Escape(detail is null ? phase : $"{phase} {detail}");
                });
            });
        return result;
    }

    /// <summary>
    /// Plain progress lines: "[ 12.3 s] fine-tuning 100/1000 (10%) ETA 1 m 32 s  seg 0.523". A phase prints when it
    /// passes a tenth of its total at least 2 s after its previous line, and once at the end.
    /// </summary>
    private sealed class PlainProgress
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Dictionary<string, (Stopwatch Started, int LastTenth, double LastPrint)> _phases = new();

        public void Report(string phase, int done, int total, string? detail)
        {
            if (!_phases.TryGetValue(phase, out var p)) _phases[phase] = p = (Stopwatch.StartNew(), 0, 0);
            int tenth = total <= 0 ? 10 : (int)(10L * done / total);
            double now = p.Started.Elapsed.TotalSeconds;
            bool end = done >= total && p.LastTenth < 11;
            if (!end && (tenth == p.LastTenth || now - p.LastPrint < 2)) return;
            _phases[phase] = (p.Started, end ? 11 : tenth, now);
            double elapsed = p.Started.Elapsed.TotalSeconds;
            string eta = done > 0 && done < total ? $" ETA {Duration(elapsed / done * (total - done))}" : "";
            var line = string.Create(CultureInfo.InvariantCulture,
                $"[{_clock.Elapsed.TotalSeconds,6:F1} s] {phase} {done}/{total} ({(total > 0 ? 100.0 * done / total : 100):F0}%){eta}{(detail is null ? "" : "  " + detail)}");
            AnsiConsole.WriteLine(line);
        }
    }

    /// <summary>A duration as "42 s" or "3 m 05 s".</summary>
    public static string Duration(double seconds) => seconds < 60
        ? string.Create(CultureInfo.InvariantCulture, $"{seconds:F0} s")
        : string.Create(CultureInfo.InvariantCulture, $"{(int)(seconds / 60)} m {(int)(seconds % 60):00} s");
}
