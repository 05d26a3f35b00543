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
}
