using System.Collections.Concurrent;
using System.Numerics.Tensors;

namespace MtlPrune.Engine.Inference;

/// <summary>
/// The other layers of inference, writing into caller-owned buffers with no allocation in steady state, and computing
/// exactly what the engine's differentiable ops compute (same formulas and rounding): activations, residual additions,
/// max pooling, bilinear resizing (PyTorch's align_corners = false), global average pooling and fully connected layers.
/// </summary>
public static class InferenceOps
{
    /// <summary>Applies <paramref name="act"/> in place.</summary>
    public static void Activate(Span<float> y, Activation act)
    {
        if (act == Activation.Relu) TensorPrimitives.Max(y, 0f, y);
        else if (act == Activation.Relu6) { TensorPrimitives.Max(y, 0f, y); TensorPrimitives.Min(y, 6f, y); }
    }

    /// <summary>y = act(a + b) over <paramref name="count"/> elements (y may alias a or b).</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, Activation act)
    {
        TensorPrimitives.Add(a, b, y);
        Activate(y, act);
    }

    /// <summary>Max pooling of [nc, h, w] planes into [nc, ho, wo] (padding counts as −∞); returns (ho, wo).</summary>
    public static (int H, int W) MaxPool2d(ReadOnlySpan<float> x, int nc, int h, int w, int kernel, int stride, int pad, bool ceil, Span<float> y)
    {
        int ho = Tensor.PoolOutputSize(h, kernel, stride, pad, 1, ceil, "MaxPool2d"), wo = Tensor.PoolOutputSize(w, kernel, stride, pad, 1, ceil, "MaxPool2d");
        for (int p = 0; p < nc; p++)
        {
            var src = x.Slice(p * h * w, h * w);
            var dst = y.Slice(p * ho * wo, ho * wo);
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                {
                    float best = float.NegativeInfinity; bool any = false;
                    for (int ki = 0; ki < kernel; ki++)
                    {
                        int ih = oh * stride - pad + ki;
                        if ((uint)ih >= (uint)h) continue;
                        for (int kj = 0; kj < kernel; kj++)
                        {
                            int iw = ow * stride - pad + kj;
                            if ((uint)iw >= (uint)w) continue;
                            float v = src[ih * w + iw];
                            if (v > best || !any || float.IsNaN(v)) { best = v; any = true; }
                        }
                    }
                    dst[oh * wo + ow] = best;
                }
        }
        return (ho, wo);
    }

    private static readonly ConcurrentDictionary<(int In, int Out), (int[] I0, int[] I1, float[] L1)> Axes = new();

    /// <summary>Bilinear resizing of [nc, h, w] planes to [nc, oh, ow], PyTorch's align_corners = false.</summary>
    public static void ResizeBilinear(ReadOnlySpan<float> x, int nc, int h, int w, Span<float> y, int oh, int ow)
    {
        var (i0h, i1h, l1h) = Axes.GetOrAdd((h, oh), k => Tensor.ResizeAxis(k.In, k.Out, ResizeMode.Bilinear, false, null));
        var (i0w, i1w, l1w) = Axes.GetOrAdd((w, ow), k => Tensor.ResizeAxis(k.In, k.Out, ResizeMode.Bilinear, false, null));
        int pin = h * w, pout = oh * ow;
        for (int p = 0; p < nc; p++)
        {
            var src = x.Slice(p * pin, pin); var dst = y.Slice(p * pout, pout);
            for (int r = 0; r < oh; r++)
            {
                float a1 = l1h[r], a0 = 1f - a1;
                int r0 = i0h[r] * w, r1 = i1h[r] * w;
                for (int c = 0; c < ow; c++)
                {
                    float b1 = l1w[c], b0 = 1f - b1;
                    int c0 = i0w[c], c1 = i1w[c];
                    dst[r * ow + c] = a0 * (b0 * src[r0 + c0] + b1 * src[r0 + c1]) + a1 * (b0 * src[r1 + c0] + b1 * src[r1 + c1]);
                }
            }
        }
    }

    /// <summary>Mean of each of the <paramref name="nc"/> planes of <paramref name="plane"/> elements.</summary>
    public static void GlobalAvgPool(ReadOnlySpan<float> x, int nc, int plane, Span<float> y)
    {
        for (int p = 0; p < nc; p++) y[p] = TensorPrimitives.Sum(x.Slice(p * plane, plane)) / plane;
    }

    /// <summary>y[n, out] = x[n, in]·Wᵀ + b.</summary>
    public static void Linear(ReadOnlySpan<float> x, int n, int inFeatures, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int outFeatures, Span<float> y)
    {
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outFeatures; o++)
                y[i * outFeatures + o] = TensorPrimitives.Dot(x.Slice(i * inFeatures, inFeatures), weight.Slice(o * inFeatures, inFeatures)) + (bias.IsEmpty ? 0f : bias[o]);
    }
}
