using MtlPrune.Tasks;

namespace MtlPrune.Deploy;

/// <summary>
/// A task's output for one image as something a person can look at: segmentation as a colour palette (one colour per
/// class), depth and other one-channel maps as a colour map (near = bright yellow, far = dark blue; the image's 2nd to
/// 98th percentile spans the map), surface normals as RGB = (n + 1) / 2. Pixels are interleaved 8-bit RGB.
/// </summary>
public static class OutputImages
{
    /// <summary>RGB samples (h·w·3) for output [C, h, w] of a dense task.</summary>
    public static ushort[] Render(TaskKind kind, ReadOnlySpan<float> output, int channels, int h, int w)
    {
        int plane = h * w;
        var rgb = new ushort[plane * 3];
        switch (kind)
        {
            case TaskKind.Segmentation:
                for (int i = 0; i < plane; i++)
                {
                    int best = 0;
                    for (int c = 1; c < channels; c++) if (output[c * plane + i] > output[best * plane + i]) best = c;
                    var (r, g, b) = Palette(best);
                    rgb[3 * i] = r; rgb[3 * i + 1] = g; rgb[3 * i + 2] = b;
                }
                break;
            case TaskKind.Normals when channels == 3:
                for (int i = 0; i < plane; i++)
                {
                    float x = output[i], y = output[plane + i], z = output[2 * plane + i];
                    float len = MathF.Sqrt(x * x + y * y + z * z);
                    if (len > 0) { x /= len; y /= len; z /= len; }
                    rgb[3 * i] = Byte((x + 1) / 2); rgb[3 * i + 1] = Byte((y + 1) / 2); rgb[3 * i + 2] = Byte((z + 1) / 2);
                }
                break;
            default:
                {
                    var v = output[..plane].ToArray();
                    var sorted = (float[])v.Clone();
                    Array.Sort(sorted);
                    float lo = sorted[(int)(0.02 * (plane - 1))], hi = sorted[(int)(0.98 * (plane - 1))];
                    // Depth: near (small) is bright; other maps: large is bright.
                    bool invert = kind == TaskKind.Depth;
                    for (int i = 0; i < plane; i++)
                    {
                        float t = hi > lo ? Math.Clamp((v[i] - lo) / (hi - lo), 0f, 1f) : 0.5f;
                        var (r, g, b) = ColorMap(invert ? 1 - t : t);
                        rgb[3 * i] = r; rgb[3 * i + 1] = g; rgb[3 * i + 2] = b;
                    }
                    break;
                }
        }
        return rgb;
    }

    /// <summary>A distinct colour for class <paramref name="c"/> (the PASCAL VOC palette: bits of c spread over R, G, B).</summary>
    public static (ushort R, ushort G, ushort B) Palette(int c)
    {
        int r = 0, g = 0, b = 0;
        for (int bit = 7; bit >= 0 && c > 0; bit--, c >>= 3)
        {
            r |= (c & 1) << bit; g |= (c >> 1 & 1) << bit; b |= (c >> 2 & 1) << bit;
        }
        return ((ushort)r, (ushort)g, (ushort)b);
    }

    // Viridis at five stops, linearly interpolated.
    private static readonly (float R, float G, float B)[] Stops =
        { (68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37) };

    /// <summary>The colour map at <paramref name="t"/> ∈ [0, 1].</summary>
    public static (ushort R, ushort G, ushort B) ColorMap(float t)
    {
        float x = Math.Clamp(t, 0f, 1f) * (Stops.Length - 1);
        int i = Math.Min((int)x, Stops.Length - 2);
        float f = x - i;
        var (a, b) = (Stops[i], Stops[i + 1]);
        return ((ushort)MathF.Round(a.R + (b.R - a.R) * f), (ushort)MathF.Round(a.G + (b.G - a.G) * f), (ushort)MathF.Round(a.B + (b.B - a.B) * f));
    }

    private static ushort Byte(float v) => (ushort)Math.Clamp(MathF.Round(v * 255), 0, 255);
}
