using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace MtlPrune.Engine;

/// <summary>Interpolation modes of <see cref="Tensor.Interpolate"/>.</summary>
public enum ResizeMode { Nearest, Bilinear }

public sealed unsafe partial class Tensor
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
        var xc = x.Contiguous();
        var y = Empty(new[] { n, c, outH, outW });
        var axes = new ResizeAxes(h, w, outH, outW, i0h, i1h, l1h, i0w, i1w, l1w);
        fixed (float* px = xc.Span) fixed (float* py = y.Span)
        {
            var body = new ResizePlanes { From = px, To = py, A = axes, Backward = false };
            Kernels.WorkerPool.For(n * c, ref body);
        }
        return y.WithGrad(mode == ResizeMode.Nearest ? "InterpolateNearest" : "InterpolateBilinear", new[] { xc }, g =>
        {
            var gx = Zeros(xc.Shape);
            fixed (float* pg = g.Contiguous().Span) fixed (float* pgx = gx.Span)
            {
                var body = new ResizePlanes { From = pg, To = pgx, A = axes, Backward = true };
                Kernels.WorkerPool.For(n * c, ref body);
            }
            Autograd.Accumulate(xc, gx);
        });
    }

    /// <summary>The two axes of a resize: per output row and column, two source indices and the second one's weight.</summary>
    private sealed record ResizeAxes(int H, int W, int OH, int OW, int[] I0H, int[] I1H, float[] L1H, int[] I0W, int[] I1W, float[] L1W)
    {
        /// <summary>A per-plane scratch of H·OW floats: on the stack when small, else rented (returned by the caller).</summary>
        public int Scratch => H * OW;

        /// <summary>The source rows some output row blends (when shrinking, the others need no interpolation across).</summary>
        public int[] UsedRows { get; } = I0H.Concat(I1H).Distinct().Order().ToArray();
    }

    /// <summary>
    /// One plane per iteration, separably, with a scratch of H·OW floats (on the stack when small, else rented).
    /// Forward (From = x, To = y): every source row interpolated across into the scratch (the same products and sums as
    /// the direct four-tap formula, so the values are bit-identical to it), then each output row a blend of two scratch
    /// rows, with a separate multiply and add (a fused multiply-add would round differently).
    /// Backward (From = dy, To = dx): the gradient's rows folded onto the source rows they blend, then each folded row
    /// across onto its source columns: H·OW scattered adds where the direct form does four per output pixel.
    /// </summary>
    private unsafe struct ResizePlanes : Kernels.IParallelBody
    {
        public float* From, To; public ResizeAxes A; public bool Backward;
        public void Run(int p)
        {
            var rent = A.Scratch > 16384 ? BufferPool.Rent(A.Scratch) : null;
            float* stack = stackalloc float[rent is null ? A.Scratch : 1];
            fixed (float* rented = rent)
            {
                float* scratch = rent is null ? stack : rented;
                if (Backward) Down(From + (long)p * A.OH * A.OW, To + (long)p * A.H * A.W, scratch);
                else Up(From + (long)p * A.H * A.W, To + (long)p * A.OH * A.OW, scratch);
            }
            if (rent is not null) BufferPool.Return(rent);
        }

        private readonly void Up(float* src, float* dst, float* across)
        {
            var a = A;
            foreach (int r in a.UsedRows)
            {
                float* row = src + (long)r * a.W, d = across + (long)r * a.OW;
                for (int o = 0; o < a.OW; o++) { float b1 = a.L1W[o], b0 = 1f - b1; d[o] = b0 * row[a.I0W[o]] + b1 * row[a.I1W[o]]; }
            }
            for (int r = 0; r < a.OH; r++)
            {
                float a1 = a.L1H[r], a0 = 1f - a1;
                float* h0 = across + (long)a.I0H[r] * a.OW, h1 = across + (long)a.I1H[r] * a.OW, d = dst + (long)r * a.OW;
                int o = 0;
                if (Vector512.IsHardwareAccelerated)
                {
                    var v0 = Vector512.Create(a0); var v1 = Vector512.Create(a1);
                    for (; o + 16 <= a.OW; o += 16) (v0 * Vector512.Load(h0 + o) + v1 * Vector512.Load(h1 + o)).Store(d + o);
                }
                for (; o < a.OW; o++) d[o] = a0 * h0[o] + a1 * h1[o];
            }
        }

        private readonly void Down(float* g, float* gx, float* down)
        {
            var a = A;
            new Span<float>(down, a.Scratch).Clear();
            for (int r = 0; r < a.OH; r++)
            {
                float a1 = a.L1H[r], a0 = 1f - a1;
                var gr = new ReadOnlySpan<float>(g + (long)r * a.OW, a.OW);
                var d0 = new Span<float>(down + (long)a.I0H[r] * a.OW, a.OW);
                var d1 = new Span<float>(down + (long)a.I1H[r] * a.OW, a.OW);
                TensorPrimitives.MultiplyAdd(gr, a0, d0, d0);
                TensorPrimitives.MultiplyAdd(gr, a1, d1, d1);
            }
            for (int r = 0; r < a.H; r++)
            {
                float* d = down + (long)r * a.OW, row = gx + (long)r * a.W;
                for (int o = 0; o < a.OW; o++) { float b1 = a.L1W[o], v = d[o]; row[a.I0W[o]] += (1f - b1) * v; row[a.I1W[o]] += b1 * v; }
            }
        }
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
