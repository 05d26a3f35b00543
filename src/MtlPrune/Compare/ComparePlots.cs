using System.Globalization;
using MtlPrune.Engine.IO;
using MtlPrune.Reports;

namespace MtlPrune.Compare;

/// <summary>The comparison's SVG plots.</summary>
public static class ComparePlots
{
    /// <summary>Writes the four plots into <paramref name="dir"/>; returns their file names.</summary>
    public static IReadOnlyList<string> WriteAll(CompareSummary s, string dir)
    {
        var files = new List<string>();
        void Write(string name, string svg) { AtomicFile.WriteAllText(Path.Combine(dir, name), svg); files.Add(name); }
        Write("deltat-vs-sparsity.svg", DeltaT(s));
        Write("component-sparsity.svg", Components(s));
        Write("metric-vs-sparsity.svg", Metrics(s));
        if (AdapMtlTraining(s) is { } fig3) Write("adapmtl-training.svg", fig3);
        return files;
    }

    private static Series Line(string name, IEnumerable<CompareRow> rows, Func<CompareRow, Stat> stat, double floor = double.NegativeInfinity)
    {
        var pts = rows.OrderBy(r => r.Sparsity).Select(r => (r, st: stat(r))).Where(x => x.st.N > 0 && x.st.Mean >= floor).ToList();
        return new Series(name, pts.Select(x => (x.r.Sparsity * 100, x.st.Mean)).ToList())
        { Spread = pts.Select(x => (Math.Max(x.st.Min, floor), x.st.Max)).ToList() };
    }

    /// <summary>ΔT against sparsity, per method, with the minimum and maximum over seeds; a second panel zooms in on ΔT ≥ −100%.</summary>
    public static string DeltaT(CompareSummary s)
    {
        var all = s.Rows.GroupBy(r => r.Label).Select(g => Line(g.Key, g, r => r.DeltaT)).ToList();
        var close = s.Rows.GroupBy(r => r.Label).Select(g => Line(g.Key, g, r => r.DeltaT, -100)).ToList();
        return SvgChart.Render("ΔT against the dense model (test split; bars: min and max over seeds)", "sparsity (%)", new[]
        {
            ("ΔT (%), all methods", (IReadOnlyList<Series>)all, false),
            ("ΔT (%), closer look: points below −100% left out", (IReadOnlyList<Series>)close, false),
        });
    }

    /// <summary>Per-component sparsity of each method, one panel per sparsity level.</summary>
    public static string Components(CompareSummary s) =>
        SvgBars.Render("sparsity per component (mean over seeds)", s.Components, "sparsity (%)",
            s.Rows.GroupBy(r => r.Sparsity).Select(level => ($"target {level.Key.ToString("P0", CultureInfo.InvariantCulture)}",
                (IReadOnlyList<BarGroup>)level.Select(r => new BarGroup(r.Label, s.Components.Select(c => r.ComponentSparsity.TryGetValue(c, out var st) ? st.Mean * 100 : double.NaN).ToList())).ToList())).ToList());

    /// <summary>Each task's first metric against sparsity, per method, with the dense value as a flat line.</summary>
    public static string Metrics(CompareSummary s)
    {
        var panels = new List<(string, IReadOnlyList<Series>, bool)>();
        foreach (var t in s.Tasks)
        {
            var m = s.MetricInfo[t][0];
            var series = s.Rows.GroupBy(r => r.Label).Select(g => Line(g.Key, g, r => r.Metrics.TryGetValue($"{t}/{m.Name}", out var st) ? st : Stat.Of(Array.Empty<double>()))).ToList();
            if (s.Dense is { } d && s.Rows.Count > 0)
                series.Add(new Series("dense", new[] { (s.Rows.Min(r => r.Sparsity) * 100, d.Metrics[t][m.Name]), (s.Rows.Max(r => r.Sparsity) * 100, d.Metrics[t][m.Name]) }));
            panels.Add(($"{t}: {m.Name} ({(m.HigherIsBetter ? "higher" : "lower")} is better)", series, false));
        }
        return SvgChart.Render("per-task metric against sparsity (test split; bars: min and max over seeds)", "sparsity (%)", panels);
    }

    /// <summary>AdapMTL's per-component sparsity and thresholds during training (its Fig. 3), from its highest-sparsity run.</summary>
    public static string? AdapMtlTraining(CompareSummary s)
    {
        var run = s.Outcomes.Where(o => o.Run.Method == "adapmtl" && o.Report is not null).OrderByDescending(o => o.Run.Sparsity).ThenBy(o => o.Run.Seed).FirstOrDefault();
        var csv = run is null ? null : Path.Combine(run.Run.Directory, "phases", "adapmtl", "metrics.csv");
        if (csv is null || !File.Exists(csv)) return null;
        var rows = File.ReadLines(csv).Skip(1).Select(l => l.Split(',')).Where(p => p.Length == 3 && p[1].StartsWith("adapmtl/"))
            .Select(p => (Step: double.Parse(p[0], CultureInfo.InvariantCulture), Name: p[1], Value: double.Parse(p[2], CultureInfo.InvariantCulture))).ToList();
        Series Of(string prefix, string name, double scale) => new(name, rows.Where(r => r.Name == prefix + name).Select(r => (r.Step, r.Value * scale)).ToList());
        var comps = rows.Where(r => r.Name.StartsWith("adapmtl/sparsity/")).Select(r => r.Name["adapmtl/sparsity/".Length..]).Distinct().ToList();
        var thresholds = rows.Where(r => r.Name.StartsWith("adapmtl/threshold/")).Select(r => r.Name["adapmtl/threshold/".Length..]).Distinct().ToList();
        return SvgChart.Render($"AdapMTL during training (target {run!.Run.Sparsity.ToString("P0", CultureInfo.InvariantCulture)}, seed {run.Run.Seed})", "step", new[]
        {
            ("sparsity per component (%)", (IReadOnlyList<Series>)comps.Select(c => Of("adapmtl/sparsity/", c, 100)).ToList(), false),
            ("threshold σ(s) per component", (IReadOnlyList<Series>)thresholds.Select(c => Of("adapmtl/threshold/", c, 1)).ToList(), false),
        });
    }
}
