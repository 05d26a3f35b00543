using System.Globalization;
using MtlPrune.Engine.IO;

namespace MtlPrune.Training;

/// <summary>Draws a run's training curves.</summary>
public static class TrainingCurves
{
    /// <summary>
    /// <c>curves.svg</c> from <c>metrics.csv</c>: training losses per task (smoothed over 50 steps, log scale) and
    /// validation ΔT.
    /// </summary>
    public static void Write(string dir)
    {
        var rows = File.ReadLines(Path.Combine(dir, "metrics.csv")).Skip(1).Select(l => l.Split(','))
            .Where(p => p.Length == 3).Select(p => (Step: int.Parse(p[0], CultureInfo.InvariantCulture), Name: p[1], Value: double.Parse(p[2], CultureInfo.InvariantCulture))).ToList();
        var losses = rows.Where(r => r.Name.StartsWith("train/")).GroupBy(r => r.Name).Select(g =>
        {
            var pts = g.OrderBy(r => r.Step).ToList();
            var smooth = pts.Select((r, i) => (X: (double)r.Step, Y: pts.Skip(Math.Max(0, i - 49)).Take(Math.Min(50, i + 1)).Average(q => q.Value))).ToList();
            return new Reports.Series(g.Key["train/".Length..], smooth);
        }).ToList();
        var delta = rows.Where(r => r.Name == "val/deltaT").Select(r => ((double)r.Step, r.Value)).ToList();
        var svg = Reports.SvgChart.Render($"training: {Path.GetFileName(Path.GetFullPath(dir))}", "step", new[]
        {
            ("training loss per task (mean of the last 50 steps)", (IReadOnlyList<Reports.Series>)losses, true),
            ("validation ΔT against the first validation (%)", (IReadOnlyList<Reports.Series>)new[] { new Reports.Series("ΔT", delta) }, false),
        });
        AtomicFile.WriteAllText(Path.Combine(dir, "curves.svg"), svg);
    }

}
