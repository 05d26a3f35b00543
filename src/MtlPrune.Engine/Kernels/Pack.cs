using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// A read-only matrix view over raw memory: element (i, j) is at <c>P[i·RowStride + j·ColStride]</c>. Transposition
/// is a swap of strides, so one packer serves A, Aᵀ, B and Bᵀ.
/// </summary>
internal readonly unsafe struct MatView(float* p, int rowStride, int colStride)
{
    public readonly float* P = p;
    public readonly int RowStride = rowStride, ColStride = colStride;
    public MatView T => new(P, ColStride, RowStride);
}

/// <summary>Supplies packed B panels: <see cref="Pack.Nr"/> columns, k-major, zero-padded beyond the matrix.</summary>
internal interface IBSource
{
    /// <summary>Writes rows [k0, k0+kc) × columns [j0, j0+Nr) to <paramref name="dst"/> as dst[k·Nr + j] (columns ≥ n are 0).</summary>
    unsafe void PackPanel(int k0, int kc, int j0, int n, float* dst);
}

/// <summary>B as an ordinary strided matrix.</summary>
internal readonly unsafe struct MatBSource(MatView b) : IBSource
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PackPanel(int k0, int kc, int j0, int n, float* dst) => Pack.PanelB(b, k0, kc, j0, n, dst);
}

/// <summary>
/// B(p, t) = <c>buf[off[t] + pos[p]]</c>: the patch matrix of a phase buffer (<see cref="PaddedConv"/>) with the valid
/// output positions as rows (<c>pos</c>, their places in the phase layout) and taps as columns, the reduction of a weight
/// gradient dW = dY·colsᵀ. Each tap's column runs along the phase layout; positions of one output row are consecutive.
/// </summary>
internal readonly unsafe struct TapColumnsSource(float* buf, int* off, int* pos) : IBSource
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PackPanel(int k0, int kc, int j0, int n, float* dst) => Pack.TapColumns(buf, off, pos, k0, kc, j0, n, dst);
}

/// <summary>Packing routines for the GEMM operands.</summary>
internal static unsafe class Pack
{
    /// <summary>Whether <see cref="TapColumns"/> packs sixteen taps at a time by 16×16 transposes (on by default; off only to compare).</summary>
    internal static bool Transpose16Taps { get; set; } = true;
    public const int Mr = MicroKernel.Mr, Nr = MicroKernel.Nr;

    /// <summary>A rows [i0, i0+Mr) × k [k0, k0+kc) as dst[k·Mr + r]; rows ≥ m are 0.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void PanelA(MatView a, int i0, int m, int k0, int kc, float* dst)
    {
        int rows = Math.Min(Mr, m - i0);
        if (a.RowStride == 1)
        {
            // Aᵀ stored: the Mr values of one k are contiguous.
            for (int k = 0; k < kc; k++)
            {
                float* src = a.P + (long)(k0 + k) * a.ColStride + i0;
                float* d = dst + k * Mr;
                int r = 0;
                for (; r < rows; r++) d[r] = src[r];
                for (; r < Mr; r++) d[r] = 0f;
            }
            return;
        }
        if (a.ColStride == 1 && rows == Mr && Sse.IsSupported)
        {
            Transpose(a.P + (long)i0 * a.RowStride + k0, a.RowStride, kc, dst);
            return;
        }
        for (int r = 0; r < rows; r++)
        {
            float* src = a.P + (long)(i0 + r) * a.RowStride + (long)k0 * a.ColStride;
            float* d = dst + r;
            if (a.ColStride == 1) for (int k = 0; k < kc; k++) d[k * Mr] = src[k];
            else for (int k = 0; k < kc; k++) d[k * Mr] = src[(long)k * a.ColStride];
        }
        for (int r = rows; r < Mr; r++)
            for (int k = 0; k < kc; k++) dst[k * Mr + r] = 0f;
    }

    /// <summary>
    /// Mr full rows of a row-major A (stride <paramref name="lda"/>) as dst[k·Mr + r], by 4×4 transposes of 128-bit
    /// loads: a third of the time of the scalar strided copy (1024^3 GEMM: packing A 9% → 3% of the run).
    /// </summary>
    private static void Transpose(float* src, int lda, int kc, float* dst)
    {
        int k = 0;
        for (; k + 4 <= kc; k += 4)
        {
            float* d = dst + k * Mr;
            for (int r = 0; r < Mr; r += 4)
            {
                float* s = src + (long)r * lda + k;
                var r0 = Sse.LoadVector128(s); var r1 = Sse.LoadVector128(s + lda);
                var r2 = Sse.LoadVector128(s + 2L * lda); var r3 = Sse.LoadVector128(s + 3L * lda);
                var lo01 = Sse.UnpackLow(r0, r1); var hi01 = Sse.UnpackHigh(r0, r1);
                var lo23 = Sse.UnpackLow(r2, r3); var hi23 = Sse.UnpackHigh(r2, r3);
                Sse.Store(d + r, Sse.MoveLowToHigh(lo01, lo23));
                Sse.Store(d + Mr + r, Sse.MoveHighToLow(lo23, lo01));
                Sse.Store(d + 2 * Mr + r, Sse.MoveLowToHigh(hi01, hi23));
                Sse.Store(d + 3 * Mr + r, Sse.MoveHighToLow(hi23, hi01));
            }
        }
        for (; k < kc; k++)
            for (int r = 0; r < Mr; r++) dst[k * Mr + r] = src[(long)r * lda + k];
    }

    /// <summary>
    /// Rows [k0, k0+kc) × columns [j0, j0+Nr) of <see cref="TapColumnsSource"/> as dst[k·Nr + j] (columns ≥ n are 0): four
    /// taps by four positions at a time, by 4×4 transposes of 128-bit loads where the four positions are consecutive in
    /// the phase layout (one output row), element by element where they are not.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TapColumns(float* buf, int* off, int* pos, int k0, int kc, int j0, int n, float* dst)
    {
        int cols = Math.Min(Nr, n - j0), j = 0;
        pos += k0;
        if (Transpose16Taps && Simd.Use512 && Avx512F.IsSupported)
            for (; j + 16 <= cols; j += 16) TapColumns16(buf, off + j0 + j, pos, kc, dst + j);
        if (Sse.IsSupported)
            for (; j + 4 <= cols; j += 4)
            {
                float* s0 = buf + off[j0 + j], s1 = buf + off[j0 + j + 1], s2 = buf + off[j0 + j + 2], s3 = buf + off[j0 + j + 3];
                for (int k = 0; k < kc; k += 4)
                {
                    float* d = dst + k * Nr + j;
                    int p = pos[k];
                    if (k + 4 <= kc && pos[k + 3] == p + 3)
                    {
                        var r0 = Sse.LoadVector128(s0 + p); var r1 = Sse.LoadVector128(s1 + p);
                        var r2 = Sse.LoadVector128(s2 + p); var r3 = Sse.LoadVector128(s3 + p);
                        var lo01 = Sse.UnpackLow(r0, r1); var hi01 = Sse.UnpackHigh(r0, r1);
                        var lo23 = Sse.UnpackLow(r2, r3); var hi23 = Sse.UnpackHigh(r2, r3);
                        Sse.Store(d, Sse.MoveLowToHigh(lo01, lo23));
                        Sse.Store(d + Nr, Sse.MoveHighToLow(lo23, lo01));
                        Sse.Store(d + 2 * Nr, Sse.MoveLowToHigh(hi01, hi23));
                        Sse.Store(d + 3 * Nr, Sse.MoveHighToLow(hi23, hi01));
                        continue;
                    }
                    for (int q = k; q < Math.Min(kc, k + 4); q++, d += Nr)
                    {
                        p = pos[q];
                        d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p]; d[3] = s3[p];
                    }
                }
            }
        for (; j < cols; j++)
        {
            float* s = buf + off[j0 + j];
            for (int k = 0; k < kc; k++) dst[k * Nr + j] = s[pos[k]];
        }
        for (j = cols; j < Nr; j++)
            for (int k = 0; k < kc; k++) dst[k * Nr + j] = 0f;
    }

    /// <summary>
    /// Sixteen taps' columns of <see cref="TapColumns"/>: sixteen positions at a time by a 16×16 transpose of 512-bit loads
    /// where they are consecutive in the phase layout (within an output row), one position at a time where they are not.
    /// Half the shuffles and a quarter of the loads of 4×4 transposes. Packing was a tenth of the reference 3×3 64→64
    /// weight gradient (8×64×56×56); alternating with the 4×4 path (minimum of 15 runs) it went 10.3-11.1 → 9.9-11.1 ms,
    /// resnet-mini's 128→128 at 8×16×16 3.19 → 3.01 ms and 64→64 at 8×32×32 3.22 → 3.03 ms. (Kept in 16-vector arrays on
    /// the stack, the transpose was 10% slower than the 4×4 path; it needs its vectors in registers.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TapColumns16(float* buf, int* off, int* pos, int kc, float* dst)
    {
        float** s = stackalloc float*[16];
        for (int t = 0; t < 16; t++) s[t] = buf + off[t];
        int k = 0;
        while (k < kc)
        {
            int p = pos[k];
            if (k + 16 <= kc && pos[k + 15] == p + 15)
            {
                Transpose16(s, p, dst + k * Nr);
                k += 16;
                continue;
            }
            float* d = dst + k * Nr;
            for (int t = 0; t < 16; t++) d[t] = s[t][p];
            k++;
        }
    }

    /// <summary>dst[r·Nr + t] = s[t][p + r] for r, t &lt; 16: sixteen 16-float rows transposed (unpacks by 32 and 64 bits, then 128-bit lane shuffles).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose16(float** s, int p, float* dst)
    {
        var a0 = Vector512.Load(s[0] + p); var a1 = Vector512.Load(s[1] + p);
        var a2 = Vector512.Load(s[2] + p); var a3 = Vector512.Load(s[3] + p);
        var a4 = Vector512.Load(s[4] + p); var a5 = Vector512.Load(s[5] + p);
        var a6 = Vector512.Load(s[6] + p); var a7 = Vector512.Load(s[7] + p);
        var a8 = Vector512.Load(s[8] + p); var a9 = Vector512.Load(s[9] + p);
        var a10 = Vector512.Load(s[10] + p); var a11 = Vector512.Load(s[11] + p);
        var a12 = Vector512.Load(s[12] + p); var a13 = Vector512.Load(s[13] + p);
        var a14 = Vector512.Load(s[14] + p); var a15 = Vector512.Load(s[15] + p);
        var t0 = Avx512F.UnpackLow(a0, a1).AsDouble(); var t1 = Avx512F.UnpackHigh(a0, a1).AsDouble();
        var t2 = Avx512F.UnpackLow(a2, a3).AsDouble(); var t3 = Avx512F.UnpackHigh(a2, a3).AsDouble();
        var t4 = Avx512F.UnpackLow(a4, a5).AsDouble(); var t5 = Avx512F.UnpackHigh(a4, a5).AsDouble();
        var t6 = Avx512F.UnpackLow(a6, a7).AsDouble(); var t7 = Avx512F.UnpackHigh(a6, a7).AsDouble();
        var t8 = Avx512F.UnpackLow(a8, a9).AsDouble(); var t9 = Avx512F.UnpackHigh(a8, a9).AsDouble();
        var t10 = Avx512F.UnpackLow(a10, a11).AsDouble(); var t11 = Avx512F.UnpackHigh(a10, a11).AsDouble();
        var t12 = Avx512F.UnpackLow(a12, a13).AsDouble(); var t13 = Avx512F.UnpackHigh(a12, a13).AsDouble();
        var t14 = Avx512F.UnpackLow(a14, a15).AsDouble(); var t15 = Avx512F.UnpackHigh(a14, a15).AsDouble();
        var u0 = Avx512F.UnpackLow(t0, t2).AsSingle(); var u1 = Avx512F.UnpackHigh(t0, t2).AsSingle();
        var u2 = Avx512F.UnpackLow(t1, t3).AsSingle(); var u3 = Avx512F.UnpackHigh(t1, t3).AsSingle();
        var u4 = Avx512F.UnpackLow(t4, t6).AsSingle(); var u5 = Avx512F.UnpackHigh(t4, t6).AsSingle();
        var u6 = Avx512F.UnpackLow(t5, t7).AsSingle(); var u7 = Avx512F.UnpackHigh(t5, t7).AsSingle();
        var u8 = Avx512F.UnpackLow(t8, t10).AsSingle(); var u9 = Avx512F.UnpackHigh(t8, t10).AsSingle();
        var u10 = Avx512F.UnpackLow(t9, t11).AsSingle(); var u11 = Avx512F.UnpackHigh(t9, t11).AsSingle();
        var u12 = Avx512F.UnpackLow(t12, t14).AsSingle(); var u13 = Avx512F.UnpackHigh(t12, t14).AsSingle();
        var u14 = Avx512F.UnpackLow(t13, t15).AsSingle(); var u15 = Avx512F.UnpackHigh(t13, t15).AsSingle();
        // Column q of each 128-bit lane of rows i..i+3 is in u(i + q); lanes gathered across the four row groups.
        Lanes(u0, u4, u8, u12, dst); Lanes(u1, u5, u9, u13, dst + Nr); Lanes(u2, u6, u10, u14, dst + 2 * Nr); Lanes(u3, u7, u11, u15, dst + 3 * Nr);
    }

    /// <summary>Output rows q, 4 + q, 8 + q and 12 + q of <see cref="Transpose16"/> (at dst, dst + 4·Nr, …) from the four row groups' column q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lanes(Vector512<float> r0, Vector512<float> r4, Vector512<float> r8, Vector512<float> r12, float* dst)
    {
        var v0 = Avx512F.Shuffle4x128(r0, r4, 0x44); var v1 = Avx512F.Shuffle4x128(r0, r4, 0xEE);
        var w0 = Avx512F.Shuffle4x128(r8, r12, 0x44); var w1 = Avx512F.Shuffle4x128(r8, r12, 0xEE);
        Vector512.Store(Avx512F.Shuffle4x128(v0, w0, 0x88), dst);
        Vector512.Store(Avx512F.Shuffle4x128(v0, w0, 0xDD), dst + 4 * Nr);
        Vector512.Store(Avx512F.Shuffle4x128(v1, w1, 0x88), dst + 8 * Nr);
        Vector512.Store(Avx512F.Shuffle4x128(v1, w1, 0xDD), dst + 12 * Nr);
    }

    /// <summary>B rows [k0, k0+kc) × columns [j0, j0+Nr) as dst[k·Nr + j]; columns ≥ n are 0.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void PanelB(MatView b, int k0, int kc, int j0, int n, float* dst)
    {
        int cols = Math.Min(Nr, n - j0);
        if (b.ColStride == 1)
        {
            for (int k = 0; k < kc; k++)
            {
                float* src = b.P + (long)(k0 + k) * b.RowStride + j0;
                float* d = dst + k * Nr;
                if (cols == Nr) new ReadOnlySpan<float>(src, Nr).CopyTo(new Span<float>(d, Nr));
                else
                {
                    new ReadOnlySpan<float>(src, cols).CopyTo(new Span<float>(d, cols));
                    new Span<float>(d + cols, Nr - cols).Clear();
                }
            }
            return;
        }
        // Bᵀ stored: walk each column contiguously, write with stride Nr.
        for (int j = 0; j < cols; j++)
        {
            float* src = b.P + (long)(j0 + j) * b.ColStride + (long)k0 * b.RowStride;
            float* d = dst + j;
            if (b.RowStride == 1) for (int k = 0; k < kc; k++) d[k * Nr] = src[k];
            else for (int k = 0; k < kc; k++) d[k * Nr] = src[(long)k * b.RowStride];
        }
        for (int j = cols; j < Nr; j++)
            for (int k = 0; k < kc; k++) dst[k * Nr + j] = 0f;
    }
}
