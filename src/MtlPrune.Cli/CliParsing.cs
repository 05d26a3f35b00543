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
}
