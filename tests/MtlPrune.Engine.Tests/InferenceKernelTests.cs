using MtlPrune.Engine;
using MtlPrune.Engine.Inference;
using MtlPrune.Engine.Kernels;
using Activation = MtlPrune.Engine.Inference.Activation;

namespace MtlPrune.Engine.Tests;

public class InferenceKernelTests
{
    private static float[] SparseWeights(int n, double density, Rng rng) =>
        Enumerable.Range(0, n).Select(_ => rng.NextDouble() < density ? (float)rng.NextNormal() : 0f).ToArray();

    /// <summary>The dense and sparse kernels, in every variant, equal the differentiable op on every geometry, to 1e-5 of the output's scale.</summary>
    [Theory]
    [InlineData(1, 16, 24, 13, 11, 3, 1, 1, 1, 0.1, Activation.None)]
    [InlineData(2, 8, 5, 9, 9, 3, 2, 1, 1, 0.3, Activation.Relu)]
    [InlineData(1, 3, 16, 32, 30, 7, 2, 3, 1, 0.5, Activation.Relu)]
    [InlineData(1, 16, 16, 12, 12, 3, 1, 2, 2, 0.2, Activation.None)]
    [InlineData(1, 16, 40, 8, 8, 1, 1, 0, 1, 0.1, Activation.Relu6)]
    [InlineData(1, 32, 8, 20, 20, 1, 2, 0, 1, 0.05, Activation.None)]
    [InlineData(1, 4, 4, 3, 3, 3, 1, 4, 4, 0.9, Activation.None)]
    [InlineData(1, 5, 7, 6, 6, 3, 1, 1, 1, 0.0, Activation.Relu)]
    [InlineData(1, 96, 12, 40, 44, 3, 1, 1, 1, 0.1, Activation.Relu)]       // several input-channel blocks per tile
    [InlineData(2, 80, 10, 33, 33, 3, 2, 1, 1, 0.15, Activation.Relu6)]     // blocks over four phases
    [InlineData(1, 8, 12, 65, 60, 3, 1, 1, 1, 0.2, Activation.Relu)]        // wide and shallow: cores split the columns
    [InlineData(2, 8, 6, 5, 6, 3, 1, 6, 6, 0.3, Activation.Relu)]           // dilation beyond the input: a 1×1 is left (DeadTaps)
    [InlineData(1, 16, 12, 4, 11, 3, 1, 5, 5, 0.2, Activation.None)]        // rows only: 1×3
    // Output rows of whole 16-float vectors: tiles of vectors read from anywhere in the buffer.
    [InlineData(1, 16, 24, 16, 32, 3, 1, 1, 1, 0.2, Activation.Relu)]        // two rows per tile
    [InlineData(2, 12, 10, 7, 16, 3, 1, 1, 1, 0.3, Activation.None)]         // tiles across the two images; a short last tile
    [InlineData(1, 24, 20, 9, 48, 3, 1, 6, 6, 0.3, Activation.Relu)]         // dilated, rows of 3 vectors: runs split inside a tile
    [InlineData(1, 8, 6, 32, 32, 3, 2, 1, 1, 0.3, Activation.Relu6)]         // strided, 16 wide
    [InlineData(1, 8, 12, 64, 64, 3, 1, 1, 1, 0.2, Activation.Relu)]         // wide and shallow: cores split the vector tiles
    [InlineData(1, 64, 8, 5, 16, 1, 1, 0, 1, 0.1, Activation.None)]          // 1×1: 5 vectors, one tile
    [InlineData(1, 16, 12, 5, 128, 3, 1, 1, 1, 0.3, Activation.Relu)]        // rows of 8 vectors: each tile one row, all rows in one call, residual
    [InlineData(2, 8, 6, 4, 144, 3, 1, 1, 1, 0.3, Activation.Relu6)]         // rows of 9 vectors: tiles inside a row and across rows
    // Dilation 8 on maps of 16-20 columns: the dense kernel works on shifted copies (ShiftedColumns), not the padded columns.
    [InlineData(2, 8, 64, 7, 16, 3, 1, 8, 8, 0.3, Activation.Relu)]
    [InlineData(1, 8, 64, 6, 20, 3, 1, 8, 8, 0.5, Activation.None)]
    [InlineData(1, 8, 64, 21, 16, 3, 1, 8, 8, 0.5, Activation.Relu)]        // dense enough that the sparse kernel takes the copies too
    // Bands of output rows over which outer kernel rows read only padding (LiveRows): computed without them.
    [InlineData(2, 16, 24, 12, 32, 3, 1, 6, 6, 0.3, Activation.Relu)]        // rate 6 on 12 rows, two images: vector tiles per band
    [InlineData(1, 12, 10, 13, 13, 3, 2, 3, 3, 0.3, Activation.None)]        // strided and dilated
    [InlineData(1, 4, 6, 2, 9, 3, 1, 6, 3, 0.5, Activation.Relu)]           // output rows that read only padding: bias alone
    [InlineData(1, 40, 8, 36, 48, 3, 1, 24, 24, 0.3, Activation.Relu)]       // ASPP's rate 24 on 36×48: three bands, the middle one 1×3
    // Rows that are not whole vectors: position tiles gather 16 positions across a row's end into one panel vector.
    [InlineData(1, 24, 12, 9, 19, 3, 1, 4, 4, 0.2, Activation.Relu)]         // DeepLab's layer 4 shape, small: 19 wide, rate 4
    [InlineData(2, 16, 10, 5, 17, 1, 1, 0, 1, 0.3, Activation.None)]         // 1×1, two images: vectors across images and rows
    [InlineData(1, 20, 8, 37, 49, 3, 1, 24, 24, 0.3, Activation.Relu6)]      // ASPP's rate 24 on DeepLab's 37×49: bands
    [InlineData(2, 12, 6, 11, 23, 3, 2, 1, 1, 0.3, Activation.Relu)]         // strided
    public void SparseEqualsDense(int n, int c, int o, int h, int w, int k, int s, int p, int d, double density, Activation act)
    {
        var rng = new Rng((ulong)(c * 31 + o));
        var weight = SparseWeights(o * c * k * k, density, rng);
        var bias = Enumerable.Range(0, o).Select(_ => (float)rng.NextNormal()).ToArray();
        var x = Tensor.Normal(new[] { n, c, h, w }, rng).ToArray();
        var conv = new InferenceConv(weight, o, c, (k, k), bias, (s, s), (p, p), (d, d), 1, act);
        var (ho, wo) = conv.OutputSize(h, w);
        var output = new float[n * o * ho * wo];
        // Odd geometries add a residual (a fused skip connection), even ones do not.
        var residual = (h % 2 == 1) ? Tensor.Normal(new[] { output.Length }, rng).ToArray() : null;
        var reference = Tensor.Conv2d(Tensor.FromArray(x, n, c, h, w), Tensor.FromArray(weight, o, c, k, k), Tensor.FromArray(bias, o), (s, s), (p, p), (d, d)).ToArray();
        if (residual is not null) reference = reference.Select((v, i) => v + residual[i]).ToArray();
        if (act == Activation.Relu) reference = reference.Select(v => Math.Max(v, 0f)).ToArray();
        if (act == Activation.Relu6) reference = reference.Select(v => Math.Clamp(v, 0f, 6f)).ToArray();
        double scale = reference.Max(v => Math.Abs(v)) + 1e-6;
        // Both kernels with and without shifted copies of the input (On is ignored where they do not apply: stride 2, 1×1);
        // every tiling of the sparse kernel, tiles of output vectors only where output rows are whole vectors; position tiles
        // everywhere (columns below 16 wide).
        // The sparse kernel also with its tiles packed into aligned panels, and with blocks of input channels of every size:
        // one channel each (at least 1 nonzero per block), the default, and one block of all channels; with the default, the
        // work split across cores by rows and by tiles.
        var variants = new List<(ConvKind, SparseTiling, ShiftedCopies, bool, int, SparseSplit)>();
        foreach (var copies in new[] { ShiftedCopies.Auto, ShiftedCopies.On, ShiftedCopies.Off })
        {
            variants.Add((ConvKind.Dense, SparseTiling.Auto, copies, false, InferenceConv.DefaultNonzerosPerBlock, SparseSplit.Auto));
            foreach (var tiling in wo % 16 == 0 ? new[] { SparseTiling.Auto, SparseTiling.Columns, SparseTiling.Vectors, SparseTiling.Positions } : new[] { SparseTiling.Auto, SparseTiling.Positions })
                foreach (bool packed in new[] { false, true })
                    foreach (int perBlock in new[] { 1, InferenceConv.DefaultNonzerosPerBlock, 100_000 })
                        foreach (var split in perBlock == InferenceConv.DefaultNonzerosPerBlock ? new[] { SparseSplit.Auto, SparseSplit.Rows, SparseSplit.Tiles } : new[] { SparseSplit.Auto })
                            variants.Add((ConvKind.Sparse, tiling, copies, packed, perBlock, split));
        }
        foreach (var (kind, tiling, copies, packed, perBlock, split) in variants)
        {
            conv.Kind = kind; conv.Tiling = tiling; conv.Copies = copies; conv.PackTiles = packed; conv.NonzerosPerBlock = perBlock; conv.Split = split;
            Array.Fill(output, float.NaN);
            conv.Run(x, 0, n, h, w, output, 0, residual);
            for (int i = 0; i < output.Length; i++)
                Assert.True(Math.Abs(output[i] - reference[i]) <= 1e-5 * scale, $"{kind} {tiling} copies {copies} packed {packed} blocks {perBlock} split {split} [{i}] {output[i]} vs {reference[i]}");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => conv.NonzerosPerBlock = 0);
        Assert.Equal(weight.Count(v => v != 0), conv.Nonzeros);
    }

    /// <summary>
    /// Bands by hand (rate 24 on 36 rows: the top kernel row reads the input from row 24 on, the bottom one up to row 11),
    /// none where little is dead; and on many geometries, every band's kernel rows read the input inside it at some row
    /// and the others only padding at every row, the bands tile the output rows, and neighbours differ.
    /// </summary>
    [Fact]
    public void LiveRowsSplitWhereKernelRowsReadOnlyPadding()
    {
        static PaddedConv.Geometry G(int h, int k, int s, int p, int d) => new(1, 1, h, 8, k, k, s, s, p, p, d, d);
        Assert.Equal(new LiveRows.Band[] { new(0, 12, 1, 3), new(12, 24, 1, 2), new(24, 36, 0, 2) }, LiveRows.Of(G(36, 3, 1, 24, 24)));
        Assert.Equal(new LiveRows.Band[] { new(0, 6, 1, 3), new(6, 30, 0, 3), new(30, 36, 0, 2) }, LiveRows.Of(G(36, 3, 1, 6, 6)));
        Assert.Null(LiveRows.Of(G(128, 3, 1, 1, 1)));    // one row at each end: 0.5%
        Assert.Null(LiveRows.Of(G(36, 3, 1, 4, 4)));     // 7.4%, below MinSaving
        var rng = new Random(5);
        for (int trial = 0; trial < 500; trial++)
        {
            int k = rng.Next(1, 6), s = rng.Next(1, 3), d = rng.Next(1, 9), p = rng.Next(0, d * (k - 1) + 1), h = rng.Next(1, 30);
            var g = G(h, k, s, p, d);
            if (g.Ho < 1) continue;
            var bands = LiveRows.Of(g);
            if (bands is null) continue;
            Assert.Equal(0, bands[0].Row0);
            Assert.Equal(g.Ho, bands[^1].Row1);
            for (int b = 0; b < bands.Length; b++)
            {
                if (b > 0) { Assert.Equal(bands[b - 1].Row1, bands[b].Row0); Assert.NotEqual((bands[b - 1].Kh0, bands[b - 1].Kh1), (bands[b].Kh0, bands[b].Kh1)); }
                for (int y = bands[b].Row0; y < bands[b].Row1; y++)
                    for (int i = 0; i < k; i++)
                    {
                        int row = y * s - p + i * d;
                        Assert.Equal(i >= bands[b].Kh0 && i < bands[b].Kh1, row >= 0 && row < h);
                    }
            }
        }
    }

    [Fact]
    public void SparseFallbackWithoutAvx512EqualsDense()
    {
        Simd.ForceNarrow = true;
        try
        {
            SparseEqualsDense(2, 8, 12, 10, 9, 3, 1, 1, 1, 0.2, Activation.Relu);
            SparseEqualsDense(2, 12, 10, 7, 16, 3, 1, 1, 1, 0.3, Activation.None);
            SparseEqualsDense(1, 24, 20, 9, 48, 3, 1, 6, 6, 0.3, Activation.Relu);
            SparseEqualsDense(2, 16, 24, 12, 32, 3, 1, 6, 6, 0.3, Activation.Relu);
            SparseEqualsDense(2, 16, 10, 5, 17, 1, 1, 0, 1, 0.3, Activation.None);        // position tiles gathered without masked loads
            SparseEqualsDense(1, 24, 12, 9, 19, 3, 1, 4, 4, 0.2, Activation.Relu);
        }
        finally { Simd.ForceNarrow = false; }
    }

    private struct CountBody : IParallelBody
    {
        public int[] Hits;
        public void Run(int i) => Interlocked.Increment(ref Hits[i]);
    }

    private struct ThrowBody : IParallelBody
    {
        public void Run(int i) { if (i == 7) throw new InvalidOperationException("body 7"); }
    }

    /// <summary>The worker pool runs every iteration exactly once, passes exceptions to the caller, and serves several callers.</summary>
    [Fact]
    public void WorkerPoolRunsEachIterationOnceAndPropagatesErrors()
    {
        foreach (int count in new[] { 1, 2, 3, 17, 1000 })
        {
            var body = new CountBody { Hits = new int[count] };
            WorkerPool.For(count, ref body);
            Assert.All(body.Hits, h => Assert.Equal(1, h));
        }
        var bad = new ThrowBody();
        Assert.Equal("body 7", Assert.Throws<InvalidOperationException>(() => WorkerPool.For(20, ref bad)).Message);
        var ok = new CountBody { Hits = new int[50] };
        WorkerPool.For(50, ref ok);                                    // the pool still works after an exception
        Assert.All(ok.Hits, h => Assert.Equal(1, h));
        Parallel.For(0, 8, _ =>
        {
            var b = new CountBody { Hits = new int[100] };
            for (int r = 0; r < 20; r++) { Array.Clear(b.Hits); WorkerPool.For(100, ref b); Assert.All(b.Hits, h => Assert.Equal(1, h)); }
        });
    }

    [Fact]
    public void BilinearAndPoolingMatchTheDifferentiableOps()
    {
        var rng = new Rng(3);
        var x = Tensor.Normal(new[] { 1, 3, 7, 9 }, rng);
        // Up, down, one row, and rows wider than the row cache kept on the stack.
        foreach (var (oh, ow) in new[] { (20, 17), (3, 4), (1, 30), (5, 4200) })
        {
            var y = new float[3 * oh * ow];
            InferenceOps.ResizeBilinear(x.ToArray(), 3, 7, 9, y, oh, ow);
            var want = Tensor.Interpolate(x, oh, ow, ResizeMode.Bilinear, false).ToArray();
            for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - want[i]) <= 1e-6f, $"{oh}×{ow} [{i}] {y[i]} vs {want[i]}");
        }
        // Max pooling, with NaNs that must win wherever a window holds one, on several kernels, strides and paddings.
        var xs = x.ToArray();
        xs[10] = float.NaN; xs[70] = float.NaN;
        var xn = Tensor.FromArray(xs, 1, 3, 7, 9);
        foreach (var (k, s, p, ceil) in new[] { (3, 2, 1, true), (3, 2, 1, false), (2, 2, 0, false), (3, 1, 1, false), (5, 3, 2, true), (1, 1, 0, false) })
        {
            var want = Tensor.MaxPool2d(xn, (k, k), (s, s), (p, p), ceil);
            var m = new float[want.Numel + 3];
            var (ho, wo) = InferenceOps.MaxPool2d(xs, 3, 7, 9, k, s, p, ceil, m);
            Assert.Equal(want.Shape[2..], new[] { ho, wo });
            Assert.Equal(want.ToArray(), m.Take(3 * ho * wo));
            Assert.Contains(m.Take(3 * ho * wo), float.IsNaN);
        }
        // Rows wide enough for the 16-at-once path of stride 2 (and its scalar ends), a NaN inside a vector's windows.
        var wide = Tensor.Normal(new[] { 1, 2, 5, 83 }, new Rng(4)).ToArray();
        wide[40] = float.NaN; wide[5 * 83 + 100] = float.NaN;
        var wn = Tensor.FromArray(wide, 1, 2, 5, 83);
        foreach (var (k, s, p) in new[] { (3, 2, 1), (2, 2, 0), (5, 2, 2), (3, 2, 0) })
        {
            var want = Tensor.MaxPool2d(wn, (k, k), (s, s), (p, p), false);
            var m = new float[want.Numel];
            InferenceOps.MaxPool2d(wide, 2, 5, 83, k, s, p, false, m);
            Assert.Equal(want.ToArray(), m);
        }
    }
}

/// <summary>Allocation measurements count every thread's allocations, so they run with no other test alongside.</summary>
[CollectionDefinition("alone", DisableParallelization = true)]
public sealed class AloneCollection;

[Collection("alone")]
public class WorkerPoolAllocationTests
{
    private struct CountBody : MtlPrune.Engine.Kernels.IParallelBody
    {
        public int[] Hits;
        public void Run(int i) => Interlocked.Increment(ref Hits[i]);
    }

    [Fact]
    public void WorkerPoolAllocatesNothingPerLoop()
    {
        var body = new CountBody { Hits = new int[64] };
        for (int i = 0; i < 100; i++) MtlPrune.Engine.Kernels.WorkerPool.For(64, ref body);    // warm up: threads, delegates
        // The least over five windows: the counter is process-wide, so a window can catch the test runner's threads
        // allocating; a loop that allocates shows in every window.
        long per = long.MaxValue;
        for (int window = 0; window < 5; window++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < 200; i++) MtlPrune.Engine.Kernels.WorkerPool.For(64, ref body);
            per = Math.Min(per, (GC.GetTotalAllocatedBytes(precise: true) - before) / 200);
        }
        Assert.True(per < 64, $"{per} bytes per loop");
    }

}
