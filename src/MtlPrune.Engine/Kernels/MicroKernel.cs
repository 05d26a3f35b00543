using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// The GEMM micro-kernel: an Mr×Nr (8×32) tile of C += Apanel·Bpanel over k, where the A panel holds Mr values per
/// k and the B panel 32 values per k, both contiguous (see <see cref="Pack"/>). 16 Vector512 accumulators stay in
/// registers; each k step does 2 loads of B, 8 broadcasts of A and 16 FMAs.
/// </summary>
internal static unsafe class MicroKernel
{
    public const int Mr = 8, Nr = 32;

    /// <summary>Where row p of the B panel starts: packed panels or rows read in place through an offset table.</summary>
    private interface IRows { float* Row(int p); }

    private readonly struct Packed(float* b) : IRows
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public float* Row(int p) => b + p * Nr;
    }

    private readonly struct Offsets(float* b, int* off) : IRows
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public float* Row(int p) => b + off[p];
    }

    /// <summary>C[0..8, 0..32] (=|+=) A·B for packed panels; <paramref name="ldc"/> is C's row stride.</summary>
    public static void Run(float* a, float* b, float* c, int ldc, int k, bool accumulate) => Kernel(a, new Packed(b), c, ldc, k, accumulate);

    /// <summary>
    /// Like <see cref="Run"/>, but row p of the B panel is read in place at <c>b + off[p]</c> (32 contiguous floats):
    /// the im2col matrix of a padded image, without packing.
    /// </summary>
    public static void RunOffsets(float* a, float* b, int* off, float* c, int ldc, int k, bool accumulate) => Kernel(a, new Offsets(b, off), c, ldc, k, accumulate);

    /// <summary>The kernel body, specialised by the JIT for each row accessor (struct generics), so neither pays an indirection.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel<TRows>(float* a, TRows rows, float* c, int ldc, int k, bool accumulate) where TRows : struct, IRows
    {
        if (!Simd.Use512) { Portable(a, rows, c, ldc, k, accumulate); return; }
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (accumulate)
        {
            c00 = Vector512.Load(c); c01 = Vector512.Load(c + 16);
            c10 = Vector512.Load(c + ldc); c11 = Vector512.Load(c + ldc + 16);
            c20 = Vector512.Load(c + 2 * ldc); c21 = Vector512.Load(c + 2 * ldc + 16);
            c30 = Vector512.Load(c + 3 * ldc); c31 = Vector512.Load(c + 3 * ldc + 16);
            c40 = Vector512.Load(c + 4 * ldc); c41 = Vector512.Load(c + 4 * ldc + 16);
            c50 = Vector512.Load(c + 5 * ldc); c51 = Vector512.Load(c + 5 * ldc + 16);
            c60 = Vector512.Load(c + 6 * ldc); c61 = Vector512.Load(c + 6 * ldc + 16);
            c70 = Vector512.Load(c + 7 * ldc); c71 = Vector512.Load(c + 7 * ldc + 16);
        }
        else c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = Vector512<float>.Zero;
        for (int p = 0; p < k; p++)
        {
            float* bp = rows.Row(p);
            var b0 = Vector512.Load(bp); var b1 = Vector512.Load(bp + 16);
            var x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            a += Mr;
        }
        c00.Store(c); c01.Store(c + 16);
        c10.Store(c + ldc); c11.Store(c + ldc + 16);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 16);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 16);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 16);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 16);
        c60.Store(c + 6 * ldc); c61.Store(c + 6 * ldc + 16);
        c70.Store(c + 7 * ldc); c71.Store(c + 7 * ldc + 16);
    }

    /// <summary>Columns of <see cref="RunOffsetsWide"/>'s tile.</summary>
    public const int NrWide = 48;

    /// <summary>
    /// <see cref="RunOffsets"/> over an 8×48 tile (AVX-512 only): 24 accumulators, and per k one offset, 3 loads of B and
    /// 8 broadcasts of A for 24 FMAs, against 11 loads for 16 FMAs in the 8×32 tile. B rows read in place start anywhere,
    /// so most of their loads straddle two cache lines; the wider tile spends fewer loads per multiply-add.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunOffsetsWide(float* a, float* b, int* off, float* c, int ldc, int k, bool accumulate)
    {
        Vector512<float> c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32, c40, c41, c42, c50, c51, c52, c60, c61, c62, c70, c71, c72;
        if (accumulate)
        {
            c00 = Vector512.Load(c); c01 = Vector512.Load(c + 16); c02 = Vector512.Load(c + 32);
            c10 = Vector512.Load(c + ldc); c11 = Vector512.Load(c + ldc + 16); c12 = Vector512.Load(c + ldc + 32);
            c20 = Vector512.Load(c + 2 * ldc); c21 = Vector512.Load(c + 2 * ldc + 16); c22 = Vector512.Load(c + 2 * ldc + 32);
            c30 = Vector512.Load(c + 3 * ldc); c31 = Vector512.Load(c + 3 * ldc + 16); c32 = Vector512.Load(c + 3 * ldc + 32);
            c40 = Vector512.Load(c + 4 * ldc); c41 = Vector512.Load(c + 4 * ldc + 16); c42 = Vector512.Load(c + 4 * ldc + 32);
            c50 = Vector512.Load(c + 5 * ldc); c51 = Vector512.Load(c + 5 * ldc + 16); c52 = Vector512.Load(c + 5 * ldc + 32);
            c60 = Vector512.Load(c + 6 * ldc); c61 = Vector512.Load(c + 6 * ldc + 16); c62 = Vector512.Load(c + 6 * ldc + 32);
            c70 = Vector512.Load(c + 7 * ldc); c71 = Vector512.Load(c + 7 * ldc + 16); c72 = Vector512.Load(c + 7 * ldc + 32);
        }
        else c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = c40 = c41 = c42 = c50 = c51 = c52 = c60 = c61 = c62 = c70 = c71 = c72 = Vector512<float>.Zero;
        for (int p = 0; p < k; p++)
        {
            float* bp = b + off[p];
            var b0 = Vector512.Load(bp); var b1 = Vector512.Load(bp + 16); var b2 = Vector512.Load(bp + 32);
            var x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01); c02 = Vector512.FusedMultiplyAdd(x, b2, c02);
            x = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11); c12 = Vector512.FusedMultiplyAdd(x, b2, c12);
            x = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21); c22 = Vector512.FusedMultiplyAdd(x, b2, c22);
            x = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31); c32 = Vector512.FusedMultiplyAdd(x, b2, c32);
            x = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41); c42 = Vector512.FusedMultiplyAdd(x, b2, c42);
            x = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51); c52 = Vector512.FusedMultiplyAdd(x, b2, c52);
            x = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61); c62 = Vector512.FusedMultiplyAdd(x, b2, c62);
            x = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71); c72 = Vector512.FusedMultiplyAdd(x, b2, c72);
            a += Mr;
        }
        c00.Store(c); c01.Store(c + 16); c02.Store(c + 32);
        c10.Store(c + ldc); c11.Store(c + ldc + 16); c12.Store(c + ldc + 32);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 16); c22.Store(c + 2 * ldc + 32);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 16); c32.Store(c + 3 * ldc + 32);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 16); c42.Store(c + 4 * ldc + 32);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 16); c52.Store(c + 5 * ldc + 32);
        c60.Store(c + 6 * ldc); c61.Store(c + 6 * ldc + 16); c62.Store(c + 6 * ldc + 32);
        c70.Store(c + 7 * ldc); c71.Store(c + 7 * ldc + 16); c72.Store(c + 7 * ldc + 32);
    }

    /// <summary>Vector256 (or scalar, via Vector256's software fallback) version for machines without AVX-512.</summary>
    private static void Portable<TRows>(float* a, TRows rows, float* c, int ldc, int k, bool accumulate) where TRows : struct, IRows
    {
        for (int r = 0; r < Mr; r++)
            for (int j = 0; j < Nr; j += 8)
            {
                var acc = accumulate ? Vector256.Load(c + r * ldc + j) : Vector256<float>.Zero;
                for (int p = 0; p < k; p++)
                    acc = Vector256.FusedMultiplyAdd(Vector256.Create(a[p * Mr + r]), Vector256.Load(rows.Row(p) + j), acc);
                acc.Store(c + r * ldc + j);
            }
    }
}
