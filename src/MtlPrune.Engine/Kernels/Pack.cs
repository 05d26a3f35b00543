using System.Runtime.CompilerServices;

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

/// <summary>Packing routines for the GEMM operands.</summary>
internal static unsafe class Pack
{
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
