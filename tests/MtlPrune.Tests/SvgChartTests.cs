using System.Xml.Linq;
using MtlPrune.Reports;

namespace MtlPrune.Tests;

public class SvgChartTests
{
    [Fact]
    public void RendersWellFormedPanelsWithOneLinePerSeries()
    {
        var a = new Series("a<b", new[] { (0.0, 1.0), (1.0, 0.1), (2.0, 0.01) });
        var b = new Series("b", new[] { (0.0, 2.0), (2.0, double.NaN), (3.0, 0.5) });
        var svg = SvgChart.Render("t & t", "step", new[] { ("losses", (IReadOnlyList<Series>)new[] { a, b }, true), ("empty", (IReadOnlyList<Series>)Array.Empty<Series>(), false) });
        var doc = XDocument.Parse(svg);
        var lines = doc.Descendants().Where(e => e.Name.LocalName == "polyline").ToList();
        Assert.Equal(2, lines.Count);
        Assert.Equal(2, lines[1].Attribute("points")!.Value.Split(' ').Length);   // the NaN point is skipped
        Assert.Contains("a&lt;b", svg);
        // On a log scale 1, 0.1, 0.01 are evenly spaced.
        var ys = lines[0].Attribute("points")!.Value.Split(' ').Select(p => double.Parse(p.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(Math.Abs((ys[1] - ys[0]) - (ys[2] - ys[1])) < 0.2, $"spacings {ys[1] - ys[0]} and {ys[2] - ys[1]}");
    }

    /// <summary>Thirteen series (a comparison's methods) stay apart: the ninth on repeats the colours dashed.</summary>
    [Fact]
    public void SeriesPastThePaletteAreDashed()
    {
        var series = Enumerable.Range(0, 13).Select(i => new Series($"m{i}", new[] { (0.0, (double)i), (1.0, i + 1.0) })).ToList();
        var doc = XDocument.Parse(SvgChart.Render("t", "x", new[] { ("p", (IReadOnlyList<Series>)series, false) }));
        var lines = doc.Descendants().Where(e => e.Name.LocalName == "polyline").ToList();
        Assert.Equal(13, lines.Count);
        Assert.All(lines.Take(8), l => Assert.Null(l.Attribute("stroke-dasharray")));
        Assert.All(lines.Skip(8), l => Assert.NotNull(l.Attribute("stroke-dasharray")));
        var style = lines.Select(l => (l.Attribute("stroke")!.Value, l.Attribute("stroke-dasharray")?.Value)).ToList();
        Assert.Equal(13, style.Distinct().Count());
    }

    /// <summary>Bar labels that would overlap their neighbours are slanted; short ones stay level.</summary>
    [Fact]
    public void CrowdedBarLabelsAreSlanted()
    {
        static List<XElement> Labels(string svg, int groups) =>
            XDocument.Parse(svg).Descendants().Where(e => e.Name.LocalName == "text").ToList().Where(t => t.Value.StartsWith("label-") || t.Value.StartsWith("x")).Take(groups).ToList();
        var crowded = Enumerable.Range(0, 13).Select(i => new BarGroup($"label-number-{i}", new[] { 1.0, 2.0 })).ToList();
        var svg = SvgBars.Render("t", new[] { "a", "b" }, "y", new[] { ("p", (IReadOnlyList<BarGroup>)crowded) });
        Assert.All(Labels(svg, 13), t => Assert.Contains("rotate(-35", t.Attribute("transform")?.Value ?? ""));
        var few = Enumerable.Range(0, 3).Select(i => new BarGroup($"x{i}", new[] { 1.0, 2.0 })).ToList();
        svg = SvgBars.Render("t", new[] { "a", "b" }, "y", new[] { ("p", (IReadOnlyList<BarGroup>)few) });
        Assert.All(Labels(svg, 3), t => Assert.Null(t.Attribute("transform")));
    }
}
