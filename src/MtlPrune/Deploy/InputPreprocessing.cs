using System.Globalization;

namespace MtlPrune.Deploy;

/// <summary>
/// How an 8-bit image becomes the model's input, as the model's training data prepared it: channel order, the scale of
/// a pixel value in [0, 1], then per channel (v − mean) / std; <see cref="Gray"/> averages RGB into one value copied to
/// every channel. Stored in a compact model's metadata so that <c>mtlprune infer</c> feeds images the way training did.
/// </summary>
public sealed record InputPreprocessing(string Order, float Scale, float[] Mean, float[] Std, bool Gray)
{
    private const string Key = "input.preprocessing";

    /// <summary>RGB in [0, 1], nothing subtracted (MTAN's NYUv2 and Cityscapes arrays, and models of unknown origin).</summary>
    public static InputPreprocessing Unit { get; } = new("rgb", 1f, new[] { 0f, 0f, 0f }, new[] { 1f, 1f, 1f }, false);

    /// <summary>The preparation of each data set's loader (see <c>MtlPrune.Data</c>).</summary>
    public static InputPreprocessing ForDataset(string? data) => data switch
    {
        "nyuv2-adashare" or "cityscapes-adashare" or "taskonomy" => new("bgr", 255f, new[] { 104.00699f, 116.66877f, 122.67891f }, new[] { 1f, 1f, 1f }, false),
        "scenes" => new("rgb", 1f, new[] { 0.5f, 0.5f, 0.5f }, new[] { 0.25f, 0.25f, 0.25f }, false),
        "multi-mnist" or "multi-fashion" => new("rgb", 1f, new[] { 0.5f, 0.5f, 0.5f }, new[] { 0.5f, 0.5f, 0.5f }, true),
        _ => Unit,
    };

    /// <summary>Input [channels, h, w] from interleaved 8-bit samples (1, 3 or 4 per pixel; alpha ignored).</summary>
    public float[] Apply(ReadOnlySpan<ushort> samples, int sampleChannels, int h, int w, int channels, int maxValue = 255)
    {
        var x = new float[channels * h * w];
        int plane = h * w;
        Span<float> v = stackalloc float[3];     // once: a stackalloc inside the loop grows the stack by 12 bytes a pixel
        for (int i = 0; i < plane; i++)
        {
            float r, g, b;
            if (sampleChannels >= 3) { r = samples[i * sampleChannels]; g = samples[i * sampleChannels + 1]; b = samples[i * sampleChannels + 2]; }
            else r = g = b = samples[i * sampleChannels];
            r /= maxValue; g /= maxValue; b /= maxValue;
            if (Gray) v[0] = v[1] = v[2] = (r + g + b) / 3;
            else if (Order == "bgr") { v[0] = b; v[1] = g; v[2] = r; }
            else { v[0] = r; v[1] = g; v[2] = b; }
            for (int c = 0; c < channels; c++)
            {
                int k = Math.Min(c, 2);
                x[c * plane + i] = (v[k] * Scale - Mean[k]) / Std[k];
            }
        }
        return x;
    }

    public void WriteTo(IDictionary<string, string> metadata) =>
        metadata[Key] = string.Join(';', Order, Scale.ToString("R", CultureInfo.InvariantCulture), Floats(Mean), Floats(Std), Gray ? "gray" : "color");

    /// <summary>The preprocessing recorded in <paramref name="metadata"/>, or <see cref="Unit"/> when none is.</summary>
    /// <exception cref="FormatException">The entry is malformed.</exception>
    public static InputPreprocessing ReadFrom(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(Key, out var s)) return Unit;
        var p = s.Split(';');
        float F(string v) => float.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture);
        try
        {
            if (p.Length != 5 || p[0] is not ("rgb" or "bgr") || p[4] is not ("gray" or "color")) throw new FormatException();
            var mean = p[2].Split(',').Select(F).ToArray(); var std = p[3].Split(',').Select(F).ToArray();
            if (mean.Length != 3 || std.Length != 3 || std.Any(v => !(v > 0)) || !float.IsFinite(F(p[1]))) throw new FormatException();
            return new InputPreprocessing(p[0], F(p[1]), mean, std, p[4] == "gray");
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new FormatException($"metadata '{Key}' = '{s}' is not 'rgb|bgr;scale;m,m,m;s,s,s;gray|color'.");
        }
    }

    private static string Floats(float[] v) => string.Join(',', v.Select(x => x.ToString("R", CultureInfo.InvariantCulture)));
}
