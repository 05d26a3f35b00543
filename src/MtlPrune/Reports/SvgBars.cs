using System.Globalization;
using System.Text;

namespace MtlPrune.Reports;

/// <summary>One group of bars: its label on the x axis and one value per series (NaN: no bar).</summary>
public sealed record BarGroup(string Label, IReadOnlyList<double> Values);

/// <summary>Grouped bar charts in SVG (no dependencies): panels stacked vertically, bars from zero, a shared legend.</summary>
public static class SvgBars
{
    /// <summary>Renders panels (title, groups); every group has one value per name in <paramref name="series"/>.</summary>
    public static string Render(string title, IReadOnlyList<string> series, string yLabel, IReadOnlyList<(string Title, IReadOnlyList<BarGroup> Groups)> panels,
        int width = 760, int panelHeight = 240)
    {
        var inv = CultureInfo.InvariantCulture;
        int top = 40, left = 70, right = 180;
        // Labels wider than their group (about 7 px a character) are slanted, with room below for them.
        bool slant = panels.Any(p => p.Groups.Count > 0 && p.Groups.Max(g => g.Label.Length) * 7.0 > (double)(width - left - right) / p.Groups.Count - 4);
        int gap = slant ? 70 + 6 * Math.Min(20, panels.SelectMany(p => p.Groups).Select(g => g.Label.Length).DefaultIfEmpty(0).Max()) : 70;
        int height = top + panels.Count * (panelHeight + gap);
        var sb = new StringBuilder();
        sb.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(inv, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n<text x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{SvgChart.Escape(title)}</text>\n");
        for (int p = 0; p < panels.Count; p++)
        {
            var (ptitle, groups) = panels[p];
            int y0 = top + p * (panelHeight + gap), plotW = width - left - right, plotH = panelHeight - 30;
            sb.Append(inv, $"<text x=\"{left}\" y=\"{y0 + 12}\" font-weight=\"bold\">{SvgChart.Escape(ptitle)}</text>\n");
            var values = groups.SelectMany(g => g.Values).Where(double.IsFinite).ToList();
            if (values.Count == 0 || groups.Count == 0) continue;
            double ymax = Math.Max(values.Max(), 0), ymin = Math.Min(values.Min(), 0);
            if (ymax == ymin) ymax = ymin + 1;
            double Y(double v) => y0 + 20 + plotH - (v - ymin) / (ymax - ymin) * plotH;
            sb.Append(inv, $"<rect x=\"{left}\" y=\"{y0 + 20}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#999\"/>\n");
            for (int t = 0; t <= 4; t++)
            {
                double v = ymin + (ymax - ymin) * t / 4;
                sb.Append(inv, $"<line x1=\"{left}\" x2=\"{left + plotW}\" y1=\"{Y(v):F1}\" y2=\"{Y(v):F1}\" stroke=\"#eee\"/><text x=\"{left - 6}\" y=\"{Y(v) + 4:F1}\" text-anchor=\"end\">{v.ToString("G3", inv)}</text>\n");
            }
            sb.Append(inv, $"<text x=\"{left - 50}\" y=\"{y0 + 20 + plotH / 2}\" text-anchor=\"middle\" fill=\"#555\" transform=\"rotate(-90 {left - 50} {y0 + 20 + plotH / 2})\">{SvgChart.Escape(yLabel)}</text>\n");
            double groupW = (double)plotW / groups.Count, barW = groupW * 0.8 / Math.Max(1, series.Count);
            for (int g = 0; g < groups.Count; g++)
            {
                double gx = left + g * groupW + groupW * 0.1;
                for (int si = 0; si < series.Count && si < groups[g].Values.Count; si++)
                {
                    double v = groups[g].Values[si];
                    if (!double.IsFinite(v)) continue;
                    double y1 = Y(Math.Max(v, 0)), y2 = Y(Math.Min(v, 0));
                    sb.Append(inv, $"<rect x=\"{gx + si * barW:F1}\" y=\"{y1:F1}\" width=\"{barW * 0.9:F1}\" height=\"{Math.Max(y2 - y1, 0.5):F1}\" fill=\"{SvgChart.Colors[si % SvgChart.Colors.Length]}\"/>\n");
                }
                double lx = left + g * groupW + groupW / 2, ly0 = y0 + 20 + plotH + 16;
                if (slant) sb.Append(inv, $"<text x=\"{lx:F1}\" y=\"{ly0:F1}\" text-anchor=\"end\" transform=\"rotate(-35 {lx:F1} {ly0:F1})\">{SvgChart.Escape(groups[g].Label)}</text>\n");
                else sb.Append(inv, $"<text x=\"{lx:F1}\" y=\"{ly0:F1}\" text-anchor=\"middle\">{SvgChart.Escape(groups[g].Label)}</text>\n");
            }
            for (int si = 0; si < series.Count; si++)
            {
                int ly = y0 + 30 + si * 18;
                sb.Append(inv, $"<rect x=\"{left + plotW + 12}\" y=\"{ly - 6}\" width=\"14\" height=\"10\" fill=\"{SvgChart.Colors[si % SvgChart.Colors.Length]}\"/><text x=\"{left + plotW + 32}\" y=\"{ly + 4}\">{SvgChart.Escape(series[si])}</text>\n");
            }
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }
}
