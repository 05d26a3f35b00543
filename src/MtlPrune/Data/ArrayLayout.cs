using MtlPrune.Data.Formats;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;

namespace MtlPrune.Data;

/// <summary>Conversions shared by the real-data loaders: .npy arrays and PNG images to [C, H, W] tensors.</summary>
internal static class ArrayLayout
{
    /// <summary>An .npy array of shape (H, W), (H, W, C) or (C, H, W) as [C, H, W]; <paramref name="channels"/> checks C.</summary>
    public static Tensor NpyToChw(string path, int channels)
    {
        var a = Npy.Read(path);
        var t = a.ToTensor();
        switch (a.Shape.Length)
        {
            case 2 when channels == 1: return t.Reshape(1, a.Shape[0], a.Shape[1]);
            case 3 when a.Shape[2] == channels: return t.Permute(2, 0, 1).Contiguous();
            case 3 when a.Shape[0] == channels: return t;
            default:
                throw new ModelFormatException(path, $"expected an array of shape (H, W{(channels == 1 ? "" : $", {channels}")}) with {channels} channel(s), got {Tensor.ShapeString(a.Shape)}.");
        }
    }

    /// <summary>A PNG as [C, H, W] floats of its raw sample values; <paramref name="channels"/> (1 or 3) selects gray or RGB.</summary>
    public static Tensor PngToChw(string path, int channels)
    {
        var img = Png.Read(path);
        if (channels == 3 && img.Channels < 3) throw new ModelFormatException(path, $"expected an RGB image, got {img.Channels} channel(s).");
        var t = Tensor.Zeros(channels, img.Height, img.Width);
        var s = t.Span; int plane = img.Height * img.Width;
        for (int y = 0; y < img.Height; y++)
            for (int x = 0; x < img.Width; x++)
                for (int c = 0; c < channels; c++) s[c * plane + y * img.Width + x] = img.At(y, x, c);
        return t;
    }

    /// <summary>Reverses the channel order (RGB ↔ BGR), as OpenCV-based loaders read images.</summary>
    public static Tensor ReverseChannels(Tensor chw)
    {
        int c = chw.Shape[0];
        return Tensor.Concat(Enumerable.Range(0, c).Select(i => chw.Slice(0, c - 1 - i, 1)).ToList(), 0);
    }

    /// <summary>Subtracts a per-channel mean.</summary>
    public static Tensor SubtractMean(Tensor chw, double[] mean) =>
        Tensor.Sub(chw, Tensor.FromArray(mean.Select(v => (float)v).ToArray(), mean.Length, 1, 1));

    /// <summary>[C, H, W] or [H, W] resized with nearest neighbour.</summary>
    public static Tensor ResizeNearest(Tensor t, int h, int w)
    {
        if (t.Shape[^2] == h && t.Shape[^1] == w) return t;
        bool plain = t.Rank == 2;
        var x = plain ? t.Reshape(1, 1, t.Shape[0], t.Shape[1]) : t.Reshape(new[] { 1 }.Concat(t.Shape).ToArray());
        var y = Tensor.Interpolate(x, h, w, ResizeMode.Nearest);
        return plain ? y.Reshape(h, w) : y.Reshape(t.Shape[0], h, w);
    }

    /// <summary>The file <paramref name="path"/> or an error naming it and the layout that was expected.</summary>
    public static string Require(string path, string layout)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Missing '{path}'. Expected layout: {layout}", path);
        return path;
    }
}
