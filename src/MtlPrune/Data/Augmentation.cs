using MtlPrune.Engine;
using MtlPrune.Tasks;

namespace MtlPrune.Data;

/// <summary>
/// Training-time augmentation (methods.md §6.1–6.2): random scale in [ScaleMin, ScaleMax) (image bilinear, targets
/// nearest; depth optionally divided by the scale as MTAN does), random crop to CropH×CropW (padding the labels with the
/// ignore value and depth/normals with 0), and a horizontal flip with probability ½ that negates the normals' x
/// component when <see cref="FlipNegatesNormalX"/>.
/// </summary>
public sealed record Augmentation(double ScaleMin = 1.0, double ScaleMax = 1.0, int CropH = 0, int CropW = 0, bool Flip = true,
    bool FlipNegatesNormalX = true, bool DepthDividedByScale = false)
{
    public Sample Apply(Sample s, IReadOnlyList<TaskSpec> tasks, Rng rng)
    {
        var img = s.Image; var targets = s.Targets.ToDictionary(kv => kv.Key, kv => kv.Value);
        int h = img.Shape[1], w = img.Shape[2];
        double scale = ScaleMin + (ScaleMax - ScaleMin) * rng.NextDouble();
        if (Math.Abs(scale - 1) > 1e-9)
        {
            int nh = Math.Max(1, (int)Math.Round(h * scale)), nw = Math.Max(1, (int)Math.Round(w * scale));
            img = Resize(img, nh, nw, ResizeMode.Bilinear);
            foreach (var t in tasks)
            {
                if (!t.IsDense) continue;
                var r = Resize(targets[t.Name], nh, nw, ResizeMode.Nearest);
                if (t.Kind == TaskKind.Depth && DepthDividedByScale) r = r.MulScalar((float)(1 / scale));
                targets[t.Name] = r;
            }
            h = nh; w = nw;
        }
        if (CropH > 0 && CropW > 0 && (h != CropH || w != CropW))
        {
            int y0 = h > CropH ? rng.NextInt(h - CropH + 1) : -((CropH - h) / 2);
            int x0 = w > CropW ? rng.NextInt(w - CropW + 1) : -((CropW - w) / 2);
            img = Crop(img, y0, x0, CropH, CropW, 0f);
            foreach (var t in tasks)
                if (t.IsDense) targets[t.Name] = Crop(targets[t.Name], y0, x0, CropH, CropW, t.Kind == TaskKind.Segmentation ? t.IgnoreIndex : 0f);
        }
        if (Flip && rng.NextDouble() < 0.5)
        {
            img = FlipW(img);
            foreach (var t in tasks)
            {
                if (!t.IsDense) continue;
                var f = FlipW(targets[t.Name]);
                if (t.Kind == TaskKind.Normals && FlipNegatesNormalX) f = Tensor.Mul(f, Tensor.FromArray(new float[] { -1, 1, 1 }, 3, 1, 1));
                targets[t.Name] = f;
            }
        }
        return new Sample(img, targets);
    }

    /// <summary>Resizes [C, H, W] or [H, W].</summary>
    private static Tensor Resize(Tensor t, int h, int w, ResizeMode mode)
    {
        bool plain = t.Rank == 2;
        var x = plain ? t.Reshape(1, 1, t.Shape[0], t.Shape[1]) : t.Reshape(1, t.Shape[0], t.Shape[1], t.Shape[2]);
        var y = Tensor.Interpolate(x, h, w, mode, false);
        return plain ? y.Reshape(h, w) : y.Reshape(t.Shape[0], h, w);
    }

    /// <summary>Rows [y0, y0+h) × columns [x0, x0+w) of [C, H, W] or [H, W]; outside positions get <paramref name="fill"/>.</summary>
    private static Tensor Crop(Tensor t, int y0, int x0, int h, int w, float fill)
    {
        bool plain = t.Rank == 2;
        int c = plain ? 1 : t.Shape[0], H = t.Shape[^2], W = t.Shape[^1];
        var src = t.Contiguous().ToArray();
        var dst = new float[c * h * w];
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int sy = y + y0, sx = x + x0;
                    dst[(ch * h + y) * w + x] = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[(ch * H + sy) * W + sx] : fill;
                }
        return plain ? Tensor.FromArray(dst, h, w) : Tensor.FromArray(dst, c, h, w);
    }

    private static Tensor FlipW(Tensor t)
    {
        var src = t.Contiguous().ToArray(); var dst = new float[src.Length];
        int w = t.Shape[^1], rows = src.Length / w;
        for (int r = 0; r < rows; r++)
            for (int x = 0; x < w; x++) dst[r * w + x] = src[r * w + w - 1 - x];
        return Tensor.FromArray(dst, t.Shape);
    }
}
