using System.Globalization;
using System.Text;

namespace MtlPrune.Reports;

/// <summary>
/// One line of a chart: a name and (x, y) points; optionally a spread per point (drawn as an error bar with a marker,
/// e.g. the minimum and maximum over seeds).
/// </summary>
public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points)
{
    public IReadOnlyList<(double Low, double High)>? Spread { get; init; }
}

/// <summary>
/// Small self-contained SVG line charts (no dependencies): panels stacked vertically, each with its own y axis, tick
/// labels, a legend and optional log scale.
/// </summary>
public static class SvgChart
{
    internal static readonly string[] Colors = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2" };

    /// <summary>Series past the palette's length repeat its colours with a dash pattern (solid, dashed, dotted), so a dozen stay apart.</summary>
    internal static string Dash(int series) => (series / Colors.Length % 3) switch { 0 => "", 1 => " stroke-dasharray=\"7 3\"", _ => " stroke-dasharray=\"2 2\"" };

    /// <summary>Renders panels (title, series, log y) one above the other.</summary>
    public static string Render(string title, string xLabel, IReadOnlyList<(string Title, IReadOnlyList<Series> Series, bool LogY)> panels, int width = 720, int panelHeight = 260)
    {
        var inv = CultureInfo.InvariantCulture;
        int top = 40, left = 70, right = 180, gap = 50;
        int height = top + panels.Count * (panelHeight + gap);
        var sb = new StringBuilder();
        sb.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(inv, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n<text x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");
        for (int p = 0; p < panels.Count; p++)
        {
            var (ptitle, series, logY) = panels[p];
            int y0 = top + p * (panelHeight + gap), plotW = width - left - right, plotH = panelHeight - 30;
            var pts = series.SelectMany(s => s.Points.Concat(s.Spread?.SelectMany((sp, i) => new (double X, double Y)[] { (s.Points[i].X, sp.Low), (s.Points[i].X, sp.High) }) ?? Enumerable.Empty<(double X, double Y)>()))
                .Where(q => double.IsFinite(q.Y) && (!logY || q.Y > 0)).ToList();
            sb.Append(inv, $"<text x=\"{left}\" y=\"{y0 + 12}\" font-weight=\"bold\">{Escape(ptitle)}</text>\n");
            if (pts.Count == 0) continue;
            double xmin = pts.Min(q => q.X), xmax = pts.Max(q => q.X);
            double F(double v) => logY ? Math.Log10(v) : v;
            double ymin = pts.Min(q => F(q.Y)), ymax = pts.Max(q => F(q.Y));
            if (xmax == xmin) xmax = xmin + 1;
            if (ymax == ymin) { ymax += 0.5; ymin -= 0.5; }
            double X(double x) => left + (x - xmin) / (xmax - xmin) * plotW;
            double Y(double y) => y0 + 20 + plotH - (F(y) - ymin) / (ymax - ymin) * plotH;
            sb.Append(inv, $"<rect x=\"{left}\" y=\"{y0 + 20}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#999\"/>\n");
            for (int t = 0; t <= 4; t++)
            {
                double fy = ymin + (ymax - ymin) * t / 4, yy = y0 + 20 + plotH - plotH * t / 4.0;
                string label = (logY ? Math.Pow(10, fy) : fy).ToString("G3", inv);
                sb.Append(inv, $"<line x1=\"{left}\" x2=\"{left + plotW}\" y1=\"{yy:F1}\" y2=\"{yy:F1}\" stroke=\"#eee\"/><text x=\"{left - 6}\" y=\"{yy + 4:F1}\" text-anchor=\"end\">{label}</text>\n");
                double fx = xmin + (xmax - xmin) * t / 4;
                sb.Append(inv, $"<text x=\"{X(fx):F1}\" y=\"{y0 + 20 + plotH + 16}\" text-anchor=\"middle\">{fx.ToString("G4", inv)}</text>\n");
            }
            sb.Append(inv, $"<text x=\"{left + plotW / 2}\" y=\"{y0 + 20 + plotH + 30}\" text-anchor=\"middle\" fill=\"#555\">{Escape(xLabel)}</text>\n");
            for (int si = 0; si < series.Count; si++)
            {
                var s = series[si]; var color = Colors[si % Colors.Length];
                var valid = s.Points.Where(q => double.IsFinite(q.Y) && (!logY || q.Y > 0)).ToList();
                if (valid.Count > 0)
                    sb.Append(inv, $"<polyline fill=\"none\" stroke=\"{color}\"{Dash(si)} stroke-width=\"1.5\" points=\"{string.Join(" ", valid.Select(q => $"{X(q.X):F1},{Y(q.Y):F1}"))}\"/>\n");
                if (s.Spread is { } spread)
                    for (int i = 0; i < s.Points.Count && i < spread.Count; i++)
                    {
                        var (x, y) = s.Points[i]; var (lo, hi) = spread[i];
                        if (!double.IsFinite(y) || !double.IsFinite(lo) || !double.IsFinite(hi) || (logY && (lo <= 0 || y <= 0))) continue;
                        sb.Append(inv, $"<line x1=\"{X(x):F1}\" x2=\"{X(x):F1}\" y1=\"{Y(lo):F1}\" y2=\"{Y(hi):F1}\" stroke=\"{color}\"/>");
                        sb.Append(inv, $"<circle cx=\"{X(x):F1}\" cy=\"{Y(y):F1}\" r=\"3\" fill=\"{color}\"/>\n");
                    }
                int ly = y0 + 30 + si * 18;
                sb.Append(inv, $"<line x1=\"{left + plotW + 12}\" x2=\"{left + plotW + 32}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{color}\"{Dash(si)} stroke-width=\"2\"/><text x=\"{left + plotW + 38}\" y=\"{ly + 4}\">{Escape(s.Name)}</text>\n");
            }
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    internal static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
