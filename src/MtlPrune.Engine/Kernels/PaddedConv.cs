using System.Buffers;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Stride-1 convolution without im2col or packing of the image. The image is copied once into a zero-padded buffer
/// [C, Hp, Wp]; then im2col row (c, i, j) is the buffer itself read from offset c·Hp·Wp + i·Dh·Wp + j·Dw, for output
/// positions flattened over the padded width (oh·Wp + ow). The Wp − Wo extra columns per row are computed and dropped.
/// </summary>
internal static unsafe class PaddedConv
{
    /// <summary>Slack after the padded image so micro-kernels may read a whole 32-float row past the end (kept zero).</summary>
    public const int Slack = 64;

    public readonly record struct Geometry(int C, int H, int W, int Kh, int Kw, int Ph, int Pw, int Dh, int Dw)
    {
        public int Hp => H + 2 * Ph;
        public int Wp => W + 2 * Pw;
        public int Ho => Hp - Dh * (Kh - 1);
        public int Wo => Wp - Dw * (Kw - 1);
        /// <summary>Flattened output columns actually needed: (Ho − 1)·Wp + Wo.</summary>
        public int Columns => (Ho - 1) * Wp + Wo;
        public int Taps => C * Kh * Kw;
        public int PaddedSize => C * Hp * Wp + Slack;
    }

    /// <summary>Offsets of every tap (c, i, j) into the padded image.</summary>
    public static int[] Offsets(in Geometry g)
    {
        var off = new int[g.Taps];
        for (int c = 0, t = 0; c < g.C; c++)
            for (int i = 0; i < g.Kh; i++)
                for (int j = 0; j < g.Kw; j++) off[t++] = c * g.Hp * g.Wp + i * g.Dh * g.Wp + j * g.Dw;
        return off;
    }

    /// <summary>Copies an image [C, H, W] into dst [C, Hp, Wp] with zero borders and zero slack.</summary>
    public static void PadImage(float* src, in Geometry g, float* dst)
    {
        int hp = g.Hp, wp = g.Wp;
        new Span<float>(dst, g.PaddedSize).Clear();
        for (int c = 0; c < g.C; c++)
            for (int h = 0; h < g.H; h++)
                new ReadOnlySpan<float>(src + ((long)c * g.H + h) * g.W, g.W).CopyTo(new Span<float>(dst + ((long)c * hp + h + g.Ph) * wp + g.Pw, g.W));
    }

    /// <summary>
    /// out[M, Ho, Wo] (=|+=) A[M, taps]·im2col(image). <paramref name="image"/> is [C, H, W] unpadded.
    /// </summary>
    public static void Forward(MatView a, int m, float* image, in Geometry g, int[] offsets, float* outp, bool accumulate, int threads)
    {
        var padded = ArrayPool<float>.Shared.Rent(g.PaddedSize);
        bool direct = g.Wp == g.Wo;
        float[]? tmp = direct ? null : ArrayPool<float>.Shared.Rent(m * g.Ho * g.Wp);
        fixed (float* pp = padded) fixed (int* po = offsets) fixed (float* pt = tmp)
        {
            PadImage(image, g, pp);
            int n = g.Columns;
            if (direct) Gemm.RunOffsets(a, pp, po, m, n, g.Taps, outp, n, accumulate, threads);
            else
            {
                int ld = g.Ho * g.Wp;
                Gemm.RunOffsets(a, pp, po, m, n, g.Taps, pt, ld, false, threads);
                for (int r = 0; r < m; r++)
                    for (int oh = 0; oh < g.Ho; oh++)
                    {
                        var src = new ReadOnlySpan<float>(pt + (long)r * ld + oh * g.Wp, g.Wo);
                        var dst = new Span<float>(outp + ((long)r * g.Ho + oh) * g.Wo, g.Wo);
                        if (accumulate) System.Numerics.Tensors.TensorPrimitives.Add(dst, src, dst);
                        else src.CopyTo(dst);
                    }
            }
        }
        ArrayPool<float>.Shared.Return(padded);
        if (tmp is not null) ArrayPool<float>.Shared.Return(tmp);
    }

    /// <summary>dw[M, taps] += Σ dY[M, Ho, Wo]·im2col(image)ᵀ for one image.</summary>
    public static void WeightGrad(float* dy, int m, float* image, in Geometry g, int[] offsets, float* dw)
    {
        int k = (g.Columns + 15) / 16 * 16;
        var padded = ArrayPool<float>.Shared.Rent(g.PaddedSize);
        var dyw = ArrayPool<float>.Shared.Rent(m * k);
        fixed (float* pp = padded) fixed (float* pd = dyw) fixed (int* po = offsets)
        {
            PadImage(image, g, pp);
            // dY laid out over the padded width, zeros in the dropped columns and the tail.
            new Span<float>(pd, m * k).Clear();
            for (int r = 0; r < m; r++)
                for (int oh = 0; oh < g.Ho; oh++)
                    new ReadOnlySpan<float>(dy + ((long)r * g.Ho + oh) * g.Wo, g.Wo).CopyTo(new Span<float>(pd + (long)r * k + oh * g.Wp, g.Wo));
            DotKernel.Run(pd, k, pp, po, m, g.Taps, k, dw, g.Taps);
        }
        ArrayPool<float>.Shared.Return(padded);
        ArrayPool<float>.Shared.Return(dyw);
    }
}
