using System.Collections.Concurrent;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MtlPrune.Engine.Kernels;

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

    private const int Chunk = 1 << 14;

    /// <summary>y = act(a + b), element-wise (y may alias a or b); split across cores when large.</summary>
    public static unsafe void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, Activation act)
    {
        if (a.Length != b.Length || y.Length < a.Length) throw new ArgumentException($"InferenceOps.Add: lengths {a.Length}, {b.Length} → {y.Length}.");
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* py = y)
        {
            var body = new AddBody { A = pa, B = pb, Y = py, N = a.Length, Act = act };
            WorkerPool.For((a.Length + Chunk - 1) / Chunk, ref body);
        }
    }

    private unsafe struct AddBody : IParallelBody
    {
        public float* A, B, Y; public int N; public Activation Act;
        public void Run(int i)
        {
            int start = i * Chunk, len = Math.Min(Chunk, N - start);
            var y = new Span<float>(Y + start, len);
            TensorPrimitives.Add(new ReadOnlySpan<float>(A + start, len), new ReadOnlySpan<float>(B + start, len), y);
            Activate(y, Act);
        }
    }

    /// <summary>
    /// Max pooling of [nc, h, w] planes into [nc, ho, wo] (padding counts as −∞; NaN wins, as in the engine's op); returns
    /// (ho, wo). Planes are split across cores; per output row, the kernel's input rows are first reduced to one row with
    /// vector maxima, then each output takes the maximum of its kernel's columns in that row, 16 outputs at once for stride 2
    /// on AVX-512 (DeepLab's stem pool, 64 planes of 144×192: 10 ms one element at a time on one core; 3.1 ms with the
    /// rows reduced by vectors across cores; with the columns too).
    /// </summary>
    public static unsafe (int H, int W) MaxPool2d(ReadOnlySpan<float> x, int nc, int h, int w, int kernel, int stride, int pad, bool ceil, Span<float> y)
    {
        int ho = Tensor.PoolOutputSize(h, kernel, stride, pad, 1, ceil, "MaxPool2d"), wo = Tensor.PoolOutputSize(w, kernel, stride, pad, 1, ceil, "MaxPool2d");
        if (x.Length < nc * h * w || y.Length < nc * ho * wo) throw new ArgumentException($"InferenceOps.MaxPool2d: buffers too small for {nc}×{h}×{w} → {ho}×{wo}.");
        fixed (float* px = x) fixed (float* py = y)
        {
            var body = new MaxPoolBody { X = px, Y = py, H = h, W = w, HO = ho, WO = wo, K = kernel, S = stride, P = pad };
            WorkerPool.For(nc, ref body);
        }
        return (ho, wo);
    }

    private unsafe struct MaxPoolBody : IParallelBody
    {
        public float* X, Y; public int H, W, HO, WO, K, S, P;
        public void Run(int p)
        {
            float* src = X + (long)p * H * W, dst = Y + (long)p * HO * WO;
            var rent = W > 4096 ? BufferPool.Rent(W) : null;
            float* stack = stackalloc float[rent is null ? W : 1];
            fixed (float* rented = rent)
            {
                var row = new Span<float>(rent is null ? stack : rented, W);
                for (int oh = 0; oh < HO; oh++)
                {
                    int i0 = Math.Max(0, oh * S - P), i1 = Math.Min(H, oh * S - P + K);
                    if (i1 <= i0) { new Span<float>(dst + (long)oh * WO, WO).Fill(float.NegativeInfinity); continue; }
                    new ReadOnlySpan<float>(src + (long)i0 * W, W).CopyTo(row);
                    for (int i = i0 + 1; i < i1; i++) TensorPrimitives.Max(row, new ReadOnlySpan<float>(src + (long)i * W, W), row);
                    float* d = dst + (long)oh * WO;
                    float* rp = rent is null ? stack : rented;
                    for (int ow = 0; ow < WO; ow++)
                    {
                        // Stride 2 on AVX-512: 16 outputs at once where their windows' 32-float loads lie in the row.
                        if (S == 2 && Avx512F.IsSupported && 2 * ow - P >= 0 && 2 * ow - P + K - 1 + 31 < W)
                        {
                            float* r = rp + 2 * ow - P;
                            var m = Evens(r);
                            for (int k = 1; k < K; k++) m = Vector512.Max(m, Evens(r + k));
                            if (ow + 16 <= WO) { m.Store(d + ow); ow += 15; continue; }
                        }
                        int j0 = Math.Max(0, ow * S - P), j1 = Math.Min(W, ow * S - P + K);
                        float best = float.NegativeInfinity;
                        for (int j = j0; j < j1; j++)
                        {
                            float v = row[j];
                            if (float.IsNaN(v)) { best = v; break; }
                            if (v > best) best = v;
                        }
                        d[ow] = best;
                    }
                }
            }
            if (rent is not null) BufferPool.Return(rent);
        }

        /// <summary>p[0], p[2], …, p[30].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<float> Evens(float* p) => Avx512F.PermuteVar16x32x2(Vector512.Load(p), EvenLanes, Vector512.Load(p + 16));

        private static readonly Vector512<int> EvenLanes = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    }

    private static readonly ConcurrentDictionary<(int In, int Out), (int[] I0, int[] I1, float[] L1)> Axes = new();

    /// <summary>Bilinear resizing of [nc, h, w] planes to [nc, oh, ow], PyTorch's align_corners = false; planes split across cores.</summary>
    public static unsafe void ResizeBilinear(ReadOnlySpan<float> x, int nc, int h, int w, Span<float> y, int oh, int ow)
    {
        if (x.Length < nc * h * w || y.Length < nc * oh * ow) throw new ArgumentException($"InferenceOps.ResizeBilinear: buffers too small for {nc}×{h}×{w} → {oh}×{ow}.");
        var (i0h, i1h, l1h) = Axes.GetOrAdd((h, oh), k => Tensor.ResizeAxis(k.In, k.Out, ResizeMode.Bilinear, false, null));
        var (i0w, i1w, l1w) = Axes.GetOrAdd((w, ow), k => Tensor.ResizeAxis(k.In, k.Out, ResizeMode.Bilinear, false, null));
        fixed (float* px = x) fixed (float* py = y)
        {
            var body = new ResizeBody { X = px, Y = py, H = h, W = w, OH = oh, OW = ow, I0H = i0h, I1H = i1h, L1H = l1h, I0W = i0w, I1W = i1w, L1W = l1w };
            WorkerPool.For(nc, ref body);
        }
    }

    /// <summary>
    /// One plane, separably: each source row is interpolated across once into a row cache (two rows, since an output row
    /// blends two source rows and consecutive output rows share them), then each output row is a vector blend of two
    /// cached rows, (1 − a)·top + a·bottom, in registers (two library calls per row cost 6× the blend itself: the seg head's
    /// 13 planes from 16×16 to 128×128 took 0.32 ms, 8% of resnet-mini's sparse inference).
    /// </summary>
    private unsafe struct ResizeBody : IParallelBody
    {
        public float* X, Y; public int H, W, OH, OW;
        public int[] I0H, I1H, I0W, I1W; public float[] L1H, L1W;
        [SkipLocalsInit]
        public void Run(int p)
        {
            float* src = X + (long)p * H * W, dst = Y + (long)p * OH * OW;
            var rent = OW > 4096 ? BufferPool.Rent(2 * OW) : null;
            float* stack = stackalloc float[rent is null ? 2 * OW : 1];
            fixed (float* rented = rent)
            {
                float* cache = rent is null ? stack : rented;
                int rowA = -1, rowB = -1;                 // source rows held in cache[0, OW) and cache[OW, 2·OW)
                for (int r = 0; r < OH; r++)
                {
                    int top = I0H[r], bottom = I1H[r];
                    // Bring in whichever of the two rows is missing, replacing the cached row this output row does not use.
                    for (int k = 0; k < 2; k++)
                    {
                        int need = k == 0 ? top : bottom;
                        if (need == rowA || need == rowB) continue;
                        bool intoA = rowA != top && rowA != bottom;
                        Across(src + (long)need * W, intoA ? cache : cache + OW);
                        if (intoA) rowA = need; else rowB = need;
                    }
                    float* h0 = top == rowA ? cache : cache + OW, h1 = bottom == rowA ? cache : cache + OW, d = dst + (long)r * OW;
                    float a1 = L1H[r], a0 = 1f - a1;
                    int c = 0;
                    if (Vector256.IsHardwareAccelerated)
                    {
                        Vector256<float> v0 = Vector256.Create(a0), v1 = Vector256.Create(a1);
                        for (; c <= OW - 8; c += 8) (Vector256.Load(h0 + c) * v0 + Vector256.Load(h1 + c) * v1).Store(d + c);
                    }
                    for (; c < OW; c++) d[c] = h0[c] * a0 + h1[c] * a1;
                }
            }
            if (rent is not null) BufferPool.Return(rent);
        }

        private readonly void Across(float* row, float* d)
        {
            fixed (int* i0 = I0W, i1 = I1W) fixed (float* l1 = L1W)
                for (int c = 0; c < OW; c++) { float b1 = l1[c]; d[c] = (1f - b1) * row[i0[c]] + b1 * row[i1[c]]; }
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
