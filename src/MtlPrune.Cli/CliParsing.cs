using System.Globalization;

namespace MtlPrune.Cli;

/// <summary>Parsers for option values shared by the commands; errors name the option.</summary>
internal static class CliParsing
{
    /// <summary>A comma-separated list (empty when the option is absent).</summary>
    public static IReadOnlyList<string> List(string? s) =>
        s is null ? Array.Empty<string>() : s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>One of the allowed values.</summary>
    public static string Choice(string value, string option, params string[] allowed) =>
        allowed.Contains(value) ? value : throw new ArgumentException($"{option} must be {string.Join(", ", allowed)}; got '{value}'.");

    /// <summary>Per-task loss weights: <c>seg=1,depth=3</c>.</summary>
    public static Dictionary<string, double> LossWeights(string s, string option = "--loss-weights")
    {
        var d = new Dictionary<string, double>();
        foreach (var pair in List(s))
        {
            var kv = pair.Split('=');
            if (kv.Length != 2 || !double.TryParse(kv[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                throw new ArgumentException($"{option}: '{pair}' is not task=weight.");
            d[kv[0]] = v;
        }
        return d;
    }

    /// <summary>Comma-separated integers: <c>8,16,32,64</c>.</summary>
    public static int[] Ints(string v, string option) =>
        v.Split(',').Select(x => int.TryParse(x, out var n) ? n : throw new ArgumentException($"{option}: '{x}' is not an integer.")).ToArray();

    /// <summary>An image size: <c>HxW</c> or one number for a square.</summary>
    public static (int H, int W) Size(string v, string option)
    {
        var parts = v.ToLowerInvariant().Split('x', ',');
        if (parts.Length is 1 or 2 && parts.All(x => int.TryParse(x, out int n) && n >= 1 && n <= 16384))
        {
            int h = int.Parse(parts[0]);
            return (h, parts.Length == 2 ? int.Parse(parts[1]) : h);
        }
        throw new ArgumentException($"{option}: '{v}' is not a size HxW (e.g. 288x384) of positive integers.");
    }
}
