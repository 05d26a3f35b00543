using System.Runtime.CompilerServices;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Single-precision GEMM, C[M,N] (=|+=) A[M,K]·B[K,N], in the BLIS structure: for each block of Nc columns and Kc
/// depth, B is packed into Nr-wide panels and, per block of Mc rows, A into Mr-high panels; the 8×32
/// <see cref="MicroKernel"/> then runs over L1-resident panels. Work is split across cores by column ranges
/// (each thread packs its own panels into thread-local buffers, so steady state allocates nothing).
/// </summary>
internal static unsafe partial class Gemm
{
    // Measured on the 2-core AVX-512 Intel Xeon (README, Performance), 1 thread, 1024^3, with A packed by 4x4
    // transposes: Kc 128/192/256/384/512 gave 151/159/166/162/159 GFLOP/s at Mc 120-240; Kc = 256 keeps an 8x256 A
    // micro-panel plus a 32x256 B micro-panel (40 KiB) in L1 and the 256x256 A block in L2. (With the older scalar
    // packing of A, a deep Kc = 1024 measured best, on an AMD EPYC.)
    private const int Kc = 256, Mc = 256, Nc = 1024;
    private const int Mr = MicroKernel.Mr, Nr = MicroKernel.Nr;

    [ThreadStatic] private static float[]? _packA, _packB;

    /// <summary>Number of threads GEMMs may use (defaults to the core count).</summary>
    public static int MaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// C (=|+=) op(A)·op(B) for row-major spans. With <paramref name="transA"/> A is stored [K,M]; with
    /// <paramref name="transB"/> B is stored [N,K]. <paramref name="lda"/>/<paramref name="ldb"/> are stored row lengths.
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate, int threads = 0)
    {
        if (m == 0 || n == 0) return;
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
        {
            var av = transA ? new MatView(pa, 1, lda) : new MatView(pa, lda, 1);
            var bv = transB ? new MatView(pb, 1, ldb) : new MatView(pb, ldb, 1);
            Run(av, new MatBSource(bv), m, n, k, pc, ldc, accumulate, threads <= 0 ? MaxThreads : threads);
        }
    }

    /// <summary>The general driver over any B source (plain matrices, or im2col panels packed from an image).</summary>
    public static void Run<TB>(MatView a, TB b, int m, int n, int k, float* c, int ldc, bool accumulate, int threads) where TB : struct, IBSource
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) for (int i = 0; i < m; i++) new Span<float>(c + (long)i * ldc, n).Clear();
            return;
        }
        long work = (long)m * n * k;
        int panels = (n + Nr - 1) / Nr;
        int t = work < 1 << 20 ? 1 : Math.Min(threads, panels);
        if (t <= 1) { Range(a, b, m, 0, n, n, k, c, ldc, accumulate); return; }
        var body = new RangeBody<TB> { A = a, B = b, M = m, N = n, K = k, C = c, Ldc = ldc, Accumulate = accumulate, Per = (panels + t - 1) / t * Nr };
        WorkerPool.For(t, ref body);
    }

    /// <summary>One thread's share of <see cref="Run{TB}"/>: a range of columns.</summary>
    private struct RangeBody<TB> : IParallelBody where TB : struct, IBSource
    {
        public MatView A; public TB B; public int M, N, K, Ldc, Per; public float* C; public bool Accumulate;
        public void Run(int i)
        {
            int j0 = i * Per, j1 = Math.Min(N, j0 + Per);
            if (j0 < j1) Range(A, B, M, j0, j1, N, K, C, Ldc, Accumulate);
        }
    }

    /// <summary>Columns [j0, j1) of C on the calling thread.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Range<TB>(MatView a, TB b, int m, int j0, int j1, int n, int k, float* c, int ldc, bool accumulate) where TB : struct, IBSource
    {
        var packA = _packA ??= GC.AllocateUninitializedArray<float>(Mc * Kc + 16, pinned: true);
        var packB = _packB ??= GC.AllocateUninitializedArray<float>(Nc * Kc + 16, pinned: true);
        float* tile = stackalloc float[Mr * Nr];
        fixed (float* pA0 = packA) fixed (float* pB0 = packB)
        {
            float* pA = Simd.Align64(pA0), pB = Simd.Align64(pB0);   // pack buffers hold 16 floats of slack: B loads never straddle two lines
            for (int jc = j0; jc < j1; jc += Nc)
            {
                int nc = Math.Min(Nc, j1 - jc);
                for (int pc = 0; pc < k; pc += Kc)
                {
                    int kc = Math.Min(Kc, k - pc);
                    bool acc = accumulate || pc > 0;
                    for (int jr = 0; jr < nc; jr += Nr) b.PackPanel(pc, kc, jc + jr, Math.Min(j1, n), pB + jr * kc);
                    for (int ic = 0; ic < m; ic += Mc)
                    {
                        int mc = Math.Min(Mc, m - ic);
                        for (int ir = 0; ir < mc; ir += Mr) Pack.PanelA(a, ic + ir, m, pc, kc, pA + ir * kc);
                        for (int jr = 0; jr < nc; jr += Nr)
                        {
                            int nr = Math.Min(Nr, nc - jr);
                            for (int ir = 0; ir < mc; ir += Mr)
                            {
                                int mr = Math.Min(Mr, mc - ir);
                                float* cTile = c + (long)(ic + ir) * ldc + jc + jr;
                                if (mr == Mr && nr == Nr) MicroKernel.Run(pA + ir * kc, pB + jr * kc, cTile, ldc, kc, acc);
                                else Edge(pA + ir * kc, pB + jr * kc, cTile, ldc, kc, acc, mr, nr, tile);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>A partial tile: compute into a scratch tile, then copy the valid mr×nr part.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Edge(float* a, float* b, float* c, int ldc, int kc, bool acc, int mr, int nr, float* tile)
    {
        for (int r = 0; r < Mr; r++)
            for (int j = 0; j < Nr; j++) tile[r * Nr + j] = acc && r < mr && j < nr ? c[(long)r * ldc + j] : 0f;
        MicroKernel.Run(a, b, tile, Nr, kc, true);
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < nr; j++) c[(long)r * ldc + j] = tile[r * Nr + j];
    }
}
