namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>Output length of a pooling window, as PyTorch computes it (including ceil mode).</summary>
    internal static int PoolOutputSize(int input, int kernel, int stride, int pad, int dilation, bool ceilMode, string op)
    {
        if (kernel < 1 || stride < 1 || dilation < 1 || pad < 0)
            throw new ArgumentException($"{op}: invalid kernel {kernel}, stride {stride}, padding {pad} or dilation {dilation}.");
        int eff = dilation * (kernel - 1) + 1;
        if (pad > eff / 2) throw new ArgumentException($"{op}: padding {pad} must be at most half the kernel size {eff}.");
        int num = input + 2 * pad - eff + (ceilMode ? stride - 1 : 0);
        if (num < 0) throw new ArgumentException($"{op}: kernel {eff} is larger than the padded input {input + 2 * pad}.");
        int o = num / stride + 1;
        if (ceilMode && (o - 1) * stride >= input + pad) o--;
        return o;
    }

    /// <summary>Output length of a pooling window (dilation 1), as PyTorch computes it; for inference planning.</summary>
    public static int PoolOutputSizePublic(int input, int kernel, int stride, int pad, bool ceilMode) =>
        PoolOutputSize(input, kernel, stride, pad, 1, ceilMode, "pooling");

    /// <summary>2-D max pooling (~ <c>F.max_pool2d</c>); padding counts as −∞; ties go to the first maximum.</summary>
    public static Tensor MaxPool2d(Tensor x, (int H, int W) kernel, (int H, int W) stride, (int H, int W) padding,
        bool ceilMode = false, (int H, int W)? dilation = null)
    {
        if (x.Rank != 4) throw new ArgumentException($"MaxPool2d: input must be [N, C, H, W], got {ShapeString(x.Shape)}.");
        var d = dilation ?? (1, 1);
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int ho = PoolOutputSize(h, kernel.H, stride.H, padding.H, d.H, ceilMode, "MaxPool2d");
        int wo = PoolOutputSize(w, kernel.W, stride.W, padding.W, d.W, ceilMode, "MaxPool2d");
        var xc = x.Contiguous(); var xs = xc.Span;
        var y = Empty(new[] { n, c, ho, wo }); var ys = y.Span;
        var arg = new int[y.Numel];
        int plane = h * w;
        for (int p = 0; p < n * c; p++)
        {
            int baseIn = p * plane, baseOut = p * ho * wo;
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                {
                    float best = float.NegativeInfinity; int bi = -1;
                    for (int ki = 0; ki < kernel.H; ki++)
                    {
                        int ih = oh * stride.H - padding.H + ki * d.H;
                        if ((uint)ih >= (uint)h) continue;
                        for (int kj = 0; kj < kernel.W; kj++)
                        {
                            int iw = ow * stride.W - padding.W + kj * d.W;
                            if ((uint)iw >= (uint)w) continue;
                            float v = xs[baseIn + ih * w + iw];
                            if (v > best || bi < 0 || float.IsNaN(v)) { best = v; bi = baseIn + ih * w + iw; }
                        }
                    }
                    ys[baseOut + oh * wo + ow] = best; arg[baseOut + oh * wo + ow] = bi;
                }
        }
        return y.WithGrad("MaxPool2d", new[] { xc }, g =>
        {
            var gx = Zeros(xc.Shape); var gs = g.Contiguous().Span; var gxs = gx.Span;
            for (int i = 0; i < arg.Length; i++) gxs[arg[i]] += gs[i];
            Autograd.Accumulate(xc, gx);
        });
    }

    /// <summary>
    /// 2-D average pooling (~ <c>F.avg_pool2d</c>). With <paramref name="countIncludePad"/> the divisor counts
    /// padded positions but not the part of a ceil-mode window beyond the padding, as in PyTorch.
    /// </summary>
    public static Tensor AvgPool2d(Tensor x, (int H, int W) kernel, (int H, int W) stride, (int H, int W) padding,
        bool ceilMode = false, bool countIncludePad = true)
    {
        if (x.Rank != 4) throw new ArgumentException($"AvgPool2d: input must be [N, C, H, W], got {ShapeString(x.Shape)}.");
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int ho = PoolOutputSize(h, kernel.H, stride.H, padding.H, 1, ceilMode, "AvgPool2d");
        int wo = PoolOutputSize(w, kernel.W, stride.W, padding.W, 1, ceilMode, "AvgPool2d");
        var windows = new (int h0, int h1, int w0, int w1, float inv)[ho * wo];
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++)
            {
                int hs = oh * stride.H - padding.H, ws = ow * stride.W - padding.W;
                int he = Math.Min(hs + kernel.H, h + padding.H), we = Math.Min(ws + kernel.W, w + padding.W);
                int pool = (he - hs) * (we - ws);
                hs = Math.Max(hs, 0); ws = Math.Max(ws, 0); he = Math.Min(he, h); we = Math.Min(we, w);
                int div = countIncludePad ? pool : (he - hs) * (we - ws);
                windows[oh * wo + ow] = (hs, he, ws, we, div > 0 ? 1f / div : 0f);
            }
        return WindowAverage("AvgPool2d", x, ho, wo, windows);
    }

    /// <summary>Adaptive average pooling to [outH, outW] (~ <c>F.adaptive_avg_pool2d</c>): window i covers ⌊i·H/out⌋ .. ⌈(i+1)·H/out⌉.</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor x, int outH, int outW)
    {
        if (x.Rank != 4) throw new ArgumentException($"AdaptiveAvgPool2d: input must be [N, C, H, W], got {ShapeString(x.Shape)}.");
        if (outH < 1 || outW < 1) throw new ArgumentException($"AdaptiveAvgPool2d: output size {outH}x{outW} must be positive.");
        int h = x.Shape[2], w = x.Shape[3];
        var windows = new (int, int, int, int, float)[outH * outW];
        for (int i = 0; i < outH; i++)
            for (int j = 0; j < outW; j++)
            {
                int h0 = i * h / outH, h1 = ((i + 1) * h + outH - 1) / outH;
                int w0 = j * w / outW, w1 = ((j + 1) * w + outW - 1) / outW;
                windows[i * outW + j] = (h0, h1, w0, w1, 1f / ((h1 - h0) * (w1 - w0)));
            }
        return WindowAverage("AdaptiveAvgPool2d", x, outH, outW, windows);
    }

    /// <summary>Mean over H and W, keeping [N, C, 1, 1] (~ <c>adaptive_avg_pool2d(x, 1)</c>).</summary>
    public static Tensor GlobalAvgPool2d(Tensor x) => AdaptiveAvgPool2d(x, 1, 1);

    private static Tensor WindowAverage(string op, Tensor x, int ho, int wo, (int h0, int h1, int w0, int w1, float inv)[] windows)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3], plane = h * w;
        var xc = x.Contiguous(); var xs = xc.Span;
        var y = Empty(new[] { n, c, ho, wo }); var ys = y.Span;
        for (int p = 0; p < n * c; p++)
            for (int o = 0; o < windows.Length; o++)
            {
                var (h0, h1, w0, w1, inv) = windows[o];
                float s = 0;
                for (int i = h0; i < h1; i++)
                    for (int j = w0; j < w1; j++) s += xs[p * plane + i * w + j];
                ys[p * windows.Length + o] = s * inv;
            }
        return y.WithGrad(op, new[] { xc }, g =>
        {
            var gx = Zeros(xc.Shape); var gs = g.Contiguous().Span; var gxs = gx.Span;
            for (int p = 0; p < n * c; p++)
                for (int o = 0; o < windows.Length; o++)
                {
                    var (h0, h1, w0, w1, inv) = windows[o];
                    float v = gs[p * windows.Length + o] * inv;
                    for (int i = h0; i < h1; i++)
                        for (int j = w0; j < w1; j++) gxs[p * plane + i * w + j] += v;
                }
            Autograd.Accumulate(xc, gx);
        });
    }
}
