namespace MtlPrune.Engine;

/// <summary>Interpolation modes of <see cref="Tensor.Interpolate"/>.</summary>
public enum ResizeMode { Nearest, Bilinear }

public sealed partial class Tensor
{
    /// <summary>
    /// Resizes x [N, C, H, W] to [N, C, outH, outW] (~ <c>F.interpolate</c> with <c>size</c>, or with
    /// <c>scale_factor</c> when <paramref name="scaleH"/>/<paramref name="scaleW"/> are given, which PyTorch then
    /// uses for the coordinate mapping). Bilinear follows PyTorch for both <paramref name="alignCorners"/> values;
    /// nearest uses src = ⌊dst·in/out⌋ (PyTorch's legacy "nearest").
    /// </summary>
    public static Tensor Interpolate(Tensor x, int outH, int outW, ResizeMode mode, bool alignCorners = false,
        double? scaleH = null, double? scaleW = null)
    {
        if (x.Rank != 4) throw new ArgumentException($"Interpolate: input must be [N, C, H, W], got {ShapeString(x.Shape)}.");
        if (outH < 1 || outW < 1) throw new ArgumentException($"Interpolate: output size {outH}x{outW} must be positive.");
        if (mode == ResizeMode.Nearest && alignCorners) throw new ArgumentException("Interpolate: align_corners applies only to bilinear mode.");
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var (i0h, i1h, l1h) = ResizeAxis(h, outH, mode, alignCorners, scaleH);
        var (i0w, i1w, l1w) = ResizeAxis(w, outW, mode, alignCorners, scaleW);
        var xc = x.Contiguous(); var xs = xc.Span;
        var y = Empty(new[] { n, c, outH, outW }); var ys = y.Span;
        int pin = h * w, pout = outH * outW;
        for (int p = 0; p < n * c; p++)
        {
            var src = xs.Slice(p * pin, pin); var dst = ys.Slice(p * pout, pout);
            for (int oh = 0; oh < outH; oh++)
            {
                float a1 = l1h[oh], a0 = 1f - a1;
                int r0 = i0h[oh] * w, r1 = i1h[oh] * w;
                for (int ow = 0; ow < outW; ow++)
                {
                    float b1 = l1w[ow], b0 = 1f - b1;
                    int c0 = i0w[ow], c1 = i1w[ow];
                    dst[oh * outW + ow] = a0 * (b0 * src[r0 + c0] + b1 * src[r0 + c1]) + a1 * (b0 * src[r1 + c0] + b1 * src[r1 + c1]);
                }
            }
        }
        return y.WithGrad(mode == ResizeMode.Nearest ? "InterpolateNearest" : "InterpolateBilinear", new[] { xc }, g =>
        {
            var gx = Zeros(xc.Shape); var gs = g.Contiguous().Span; var gxs = gx.Span;
            for (int p = 0; p < n * c; p++)
            {
                var gsrc = gs.Slice(p * pout, pout); var gdst = gxs.Slice(p * pin, pin);
                for (int oh = 0; oh < outH; oh++)
                {
                    float a1 = l1h[oh], a0 = 1f - a1;
                    int r0 = i0h[oh] * w, r1 = i1h[oh] * w;
                    for (int ow = 0; ow < outW; ow++)
                    {
                        float b1 = l1w[ow], b0 = 1f - b1, v = gsrc[oh * outW + ow];
                        int c0 = i0w[ow], c1 = i1w[ow];
                        gdst[r0 + c0] += a0 * b0 * v; gdst[r0 + c1] += a0 * b1 * v;
                        gdst[r1 + c0] += a1 * b0 * v; gdst[r1 + c1] += a1 * b1 * v;
                    }
                }
            }
            Autograd.Accumulate(xc, gx);
        });
    }

    /// <summary>Source indices and weights along one axis. Nearest is bilinear with weight 0 on the second tap.</summary>
    internal static (int[] i0, int[] i1, float[] l1) ResizeAxis(int input, int output, ResizeMode mode, bool alignCorners, double? scale)
    {
        var i0 = new int[output]; var i1 = new int[output]; var l1 = new float[output];
        if (mode == ResizeMode.Nearest)
        {
            double s = scale is double sf ? 1.0 / sf : (double)input / output;
            for (int o = 0; o < output; o++) { i0[o] = i1[o] = Math.Min((int)Math.Floor(o * (float)s), input - 1); }
            return (i0, i1, l1);
        }
        double step = alignCorners
            ? (output > 1 ? (input - 1) / (double)(output - 1) : 0.0)
            : (scale is double sf2 ? 1.0 / sf2 : (double)input / output);
        for (int o = 0; o < output; o++)
        {
            float src = alignCorners ? (float)(step * o) : Math.Max((float)(step * (o + 0.5) - 0.5), 0f);
            int lo = Math.Min((int)src, input - 1);
            i0[o] = lo; i1[o] = lo < input - 1 ? lo + 1 : lo; l1[o] = src - lo;
            if (i1[o] == lo) l1[o] = 0f;
        }
        return (i0, i1, l1);
    }
}
