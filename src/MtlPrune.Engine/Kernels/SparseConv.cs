using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// A convolution's weights [O, taps] in compressed sparse rows: for output channel o, entries
/// <c>RowStart[o] .. RowStart[o + 1]</c> give a tap index (c·Kh·Kw + i·Kw + j) and a value. Zero weights are dropped.
/// </summary>
internal sealed class SparseRows
{
    public int Rows { get; }
    public int Taps { get; }
    public int[] RowStart { get; }
    public int[] Tap { get; }
    public float[] Value { get; }
    public int Nonzeros => Value.Length;

    public SparseRows(ReadOnlySpan<float> dense, int rows, int taps)
    {
        Rows = rows; Taps = taps;
        RowStart = new int[rows + 1];
        int nnz = 0;
        foreach (var v in dense[..(rows * taps)]) if (v != 0) nnz++;
        Tap = new int[nnz]; Value = new float[nnz];
        int k = 0;
        for (int r = 0; r < rows; r++)
        {
            RowStart[r] = k;
            for (int t = 0; t < taps; t++)
            {
                float v = dense[r * taps + t];
                if (v != 0) { Tap[k] = t; Value[k] = v; k++; }
            }
        }
        RowStart[rows] = k;
    }

    /// <summary>Per nonzero, the offset of its tap in a phase buffer whose tap offsets are <paramref name="tapOffsets"/>.</summary>
    public int[] Resolve(ReadOnlySpan<int> tapOffsets)
    {
        var r = new int[Nonzeros];
        for (int k = 0; k < r.Length; k++) r[k] = tapOffsets[Tap[k]];
        return r;
    }

    /// <summary>Row ranges of about equal nonzero counts, for <paramref name="parts"/> threads.</summary>
    public int[] Split(int parts)
    {
        var cut = new int[parts + 1];
        cut[parts] = Rows;
        for (int p = 1, r = 0; p < parts; p++)
        {
            long want = (long)Nonzeros * p / parts;
            while (r < Rows && RowStart[r] < want) r++;
            cut[p] = r;
        }
        return cut;
    }
}

/// <summary>
/// Sparse convolution over the phase buffer of <see cref="PaddedConv"/>: the im2col row of tap t is the contiguous slice
/// starting at <c>offsets[t]</c>, so output channel o at flattened column j is Σ over o's nonzero weights of
/// value·buf[offsets[tap] + j]. Each output channel's nonzeros are applied to a tile of 128 columns held in eight vector
/// accumulators (one load and one FMA per nonzero and vector), so the work is proportional to the nonzeros, with no
/// packing; each nonzero's tap offset is resolved once per input size. Rows are split across cores in parts of equal
/// nonzero counts; tiles are the outer loop, so the input slices a tile reads stay in cache across output channels.
/// </summary>
internal static unsafe class SparseConv
{
    public const int Tile = 128;

    /// <summary>
    /// out[o, j] for j in [0, columns): row o of <paramref name="w"/> against the phase buffer. <paramref name="resolved"/>
    /// holds, per nonzero, the buffer offset of its tap (<see cref="SparseRows.Resolve"/>). <paramref name="outp"/> rows are
    /// <paramref name="ld"/> floats apart (ld ≥ columns rounded up to <see cref="Tile"/>); the buffer must be readable up to
    /// the last offset + ld.
    /// </summary>
    public static void Run(SparseRows w, int[] resolved, float* buf, int columns, float* outp, int ld, int[] parts)
    {
        fixed (int* start = w.RowStart) fixed (int* offs = resolved) fixed (float* val = w.Value)
        {
            var body = new Body { Start = start, Offs = offs, Val = val, Buf = buf, Columns = columns, Out = outp, Ld = ld, Parts = parts };
            WorkerPool.For(parts.Length - 1, ref body);
        }
    }

    private struct Body : IParallelBody
    {
        public int* Start; public int* Offs; public float* Val; public float* Buf; public int Columns; public float* Out; public int Ld; public int[] Parts;
        public void Run(int p)
        {
            int r0 = Parts[p], r1 = Parts[p + 1];
            bool wide = Simd.Use512;
            for (int col = 0; col < Columns; col += Tile)
                for (int r = r0; r < r1; r++)
                {
                    int a = Start[r], n = Start[r + 1] - a;
                    float* o = Out + (long)r * Ld + col;
                    if (wide) Tile512(Buf + col, Offs + a, Val + a, n, o);
                    else Tile256(Buf + col, Offs + a, Val + a, n, o);
                }
        }
    }

    // Not inlined: alone, the loop keeps its pointers and eight accumulators in registers (inlined into the row loop the
    // JIT spilled loop state to the stack, and the store-to-load round trips tripled the time per nonzero).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile512(float* b, int* offs, float* val, int n, float* o)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int k = 0; k < n; k++)
        {
            float* p = b + offs[k];
            var v = Vector512.Create(val[k]);
            c0 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p), c0);
            c1 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 16), c1);
            c2 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 32), c2);
            c3 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 48), c3);
            c4 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 64), c4);
            c5 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 80), c5);
            c6 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 96), c6);
            c7 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 112), c7);
        }
        c0.Store(o); c1.Store(o + 16); c2.Store(o + 32); c3.Store(o + 48); c4.Store(o + 64); c5.Store(o + 80); c6.Store(o + 96); c7.Store(o + 112);
    }

    /// <summary>The same tile with Vector256 (or its software fallback), for machines without AVX-512.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile256(float* b, int* offs, float* val, int n, float* o)
    {
        for (int half = 0; half < Tile; half += 64)
        {
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
            for (int k = 0; k < n; k++)
            {
                float* p = b + offs[k] + half;
                var v = Vector256.Create(val[k]);
                c0 = Vector256.FusedMultiplyAdd(v, Vector256.Load(p), c0);
                c1 = Vector256.FusedMultiplyAdd(v, Vector256.Load(p + 8), c1);
                c2 = Vector256.FusedMultiplyAdd(v, Vector256.Load(p + 16), c2);
                c3 = Vector256.FusedMultiplyAdd(v, Vector256.Load(p + 24), c3);
                c4 = Vector256.FusedMultiplyAdd(v, Vector256.Load(p + 32), c4);
                c5 = Vector256.FusedMultiplyAdd(v, Vector256.Load(p + 40), c5);
                c6 = Vector256.FusedMultiplyAdd(v, Vector256.Load(p + 48), c6);
                c7 = Vector256.FusedMultiplyAdd(v, Vector256.Load(p + 56), c7);
            }
            float* q = o + half;
            c0.Store(q); c1.Store(q + 8); c2.Store(q + 16); c3.Store(q + 24); c4.Store(q + 32); c5.Store(q + 40); c6.Store(q + 48); c7.Store(q + 56);
        }
    }
}
