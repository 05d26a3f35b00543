using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MtlPrune.Pruning;

namespace MtlPrune.Compare;

/// <summary>One run of a sweep: the method, its label in tables (<c>cut-or</c> for a CUT fusion), sparsity, seed and where it lives.</summary>
public sealed record CompareRun(string Method, string Label, double Sparsity, ulong Seed, MethodSettings Settings, string Key, string Directory);

/// <summary>A run's outcome: its report, or the error that stopped it.</summary>
public sealed record CompareOutcome(CompareRun Run, PruneReport? Report, string? Error, bool Reused);

/// <summary>
/// Runs a comparison. Each run's directory is named by its settings (method, options, sparsity, seed, every shared option
/// and the checkpoint's hash), so a sweep interrupted at any moment resumes where it stopped: a run whose
/// <c>report.json</c> exists and parses is finished and reused; any other is run (again). <c>report.json</c> is written
/// last and atomically, so a run killed mid-write is never taken as finished. A run that fails is recorded with its
/// error and the sweep goes on.
/// </summary>
public sealed class CompareSweep(CompareOptions options)
{
    public Action<string>? Log { get; init; }
    public Action<string, int, int, string?>? Progress { get; init; }

    /// <summary>The runs, in order: sparsity, then seed, then method.</summary>
    public IReadOnlyList<CompareRun> Plan()
    {
        options.Validate();
        string sha;
        using (var fs = File.OpenRead(options.Template.Checkpoint)) sha = Convert.ToHexStringLower(SHA256.HashData(fs));
        var runs = new List<CompareRun>();
        foreach (var s in options.Sparsities)
            for (int seed = 0; seed < options.Seeds; seed++)
                foreach (var m in options.Methods)
                {
                    var fusions = m == "cut" ? (options.Fusion == "auto" ? new[] { "or", "and", "vote" } : new[] { options.Fusion }) : new[] { options.Settings.Fusion };
                    foreach (var f in fusions)
                    {
                        var settings = options.Settings with { Fusion = f };
                        string label = m == "cut" && options.Fusion == "auto" ? $"cut-{f}" : m;
                        var canonical = JsonSerializer.Serialize(new
                        {
                            m, settings, sparsity = s, seed, sha, template = options.Template with { Output = "", Checkpoint = "", Sparsity = 0, Seed = 0 },
                            selection = options.Template.Selection.Describe(),
                        });
                        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))[..12];
                        var dir = Path.Combine(options.Template.Output, "runs", $"{label}-s{s.ToString("0.###", CultureInfo.InvariantCulture)}-seed{seed}-{key}");
                        runs.Add(new CompareRun(m, label, s, (ulong)seed, settings, key, dir));
                    }
                }
        return runs;
    }

    /// <summary>
    /// Runs (or reuses) every planned run. With <paramref name="reportOnly"/> it runs nothing: the outcomes are the planned
    /// runs that have finished (another process may still be running the rest), so a partial sweep can be tabulated.
    /// </summary>
    public IReadOnlyList<CompareOutcome> Run(bool reportOnly = false)
    {
        var plan = Plan();
        var outcomes = new List<CompareOutcome>();
        for (int i = 0; i < plan.Count; i++)
        {
            var run = plan[i];
            Progress?.Invoke("compare", i, plan.Count, $"{run.Label} at {run.Sparsity:P0}, seed {run.Seed}");
            if (TryLoad(run) is { } done) { outcomes.Add(new CompareOutcome(run, done, null, true)); continue; }
            if (reportOnly) continue;
            Log?.Invoke($"run {i + 1}/{plan.Count}: {run.Label} at {run.Sparsity:P0} sparsity, seed {run.Seed} → {run.Directory}");
            try
            {
                var job = new PruneJob(options.Template with { Output = run.Directory, Sparsity = run.Sparsity, Seed = run.Seed }, PruningMethods.Create(run.Method, run.Settings))
                {
                    Progress = (phase, done, total, detail) => Progress?.Invoke($"{run.Label} {run.Sparsity:P0}/{run.Seed}: {phase}", done, total, detail),
                };
                outcomes.Add(new CompareOutcome(run, job.Run(force: true), null, false));
            }
            catch (Exception e) when (e is ArgumentException or IOException or Engine.IO.ModelFormatException or Engine.NonFiniteException or InvalidOperationException)
            {
                Log?.Invoke($"run {run.Label} at {run.Sparsity:P0}, seed {run.Seed} failed: {e.Message}");
                outcomes.Add(new CompareOutcome(run, null, e.Message, false));
            }
        }
        Progress?.Invoke("compare", plan.Count, plan.Count, null);
        return outcomes;
    }

    /// <summary>The run's report if it finished: its <c>report.json</c> exists and parses.</summary>
    public static PruneReport? TryLoad(CompareRun run)
    {
        var path = Path.Combine(run.Directory, "report.json");
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<PruneReport>(File.ReadAllText(path), ReportReading); }
        catch (JsonException) { return null; }
    }

    private static readonly JsonSerializerOptions ReportReading = new(PruneJob.ReportJson) { PropertyNameCaseInsensitive = true };
}
