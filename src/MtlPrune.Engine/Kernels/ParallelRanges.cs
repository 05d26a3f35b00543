namespace MtlPrune.Engine.Kernels;

/// <summary>A loop body over a range of elements, for <see cref="ParallelRanges.For{TBody}"/>.</summary>
internal interface IRangeBody
{
    /// <summary>Runs elements [start, start + count).</summary>
    void Run(int start, int count);
}

/// <summary>
/// Memory-bound elementwise kernels (a ReLU's mask, a residual sum) over large tensors across cores: [0, n) cut into
/// equal ranges of whole 16-float vectors, one per core, through <see cref="WorkerPool"/>; small tensors stay on the
/// calling thread, where a loop's start costs more than it saves.
/// </summary>
internal static class ParallelRanges
{
    /// <summary>Elements per core below which one thread does it all.</summary>
    public const int MinPerCore = 1 << 15;

    public static void For<TBody>(int n, ref TBody body) where TBody : struct, IRangeBody
    {
        int parts = Math.Min(Gemm.MaxThreads, n / MinPerCore);
        if (parts <= 1) { body.Run(0, n); return; }
        var split = new Split<TBody> { Body = body, N = n, Parts = parts, Per = (n / parts + 15) / 16 * 16 };
        WorkerPool.For(parts, ref split);
    }

    private struct Split<TBody> : IParallelBody where TBody : struct, IRangeBody
    {
        public TBody Body; public int N, Parts, Per;
        public void Run(int i)
        {
            int start = Math.Min(N, i * Per), end = i == Parts - 1 ? N : Math.Min(N, start + Per);
            if (start < end) Body.Run(start, end - start);
        }
    }
}
