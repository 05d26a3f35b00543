using System.Numerics.Tensors;
using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine.Inference;

/// <summary>What follows a layer's output in the same pass.</summary>
public enum Activation { None, Relu, Relu6 }

/// <summary>How an <see cref="InferenceConv"/> computes: the engine's dense kernels, or the sparse kernel over the nonzero weights.</summary>
public enum ConvKind { Dense, Sparse }

/// <summary>
/// The sparse kernel's tiles: 128 consecutive columns of the padded buffer (padding columns computed and dropped), or
/// 8 output vectors of 16 read from anywhere (only when output rows are whole vectors; more cache lines per tile, no
/// padding computed), or 128 consecutive output positions gathered tap by tap into an aligned panel across row ends
/// (<see cref="Positions"/>: any output at least 16 wide, always packed; no padding computed, as with vectors, for rows
/// that are not whole vectors, such as DeepLab's 37×49; narrower outputs take columns). <see cref="Auto"/> takes vectors
/// for outputs at most 32 wide, where they measured faster.
/// </summary>
public enum SparseTiling { Auto, Columns, Vectors, Positions }

/// <summary>
/// How the sparse kernel shares a layer's work between cores: <see cref="Rows"/>, each core a part of the output channels
/// (equal nonzero counts) over every tile; <see cref="Tiles"/>, each core a part of the tiles for every output channel, so
/// that each core reads and packs only its own tiles' inputs (with rows, every core packs every tile). <see cref="Auto"/>
/// takes tiles for wide, shallow layers (4+ tiles per core, at most 64 output channels) and rows otherwise. A compact model
/// times both per layer at load.
/// </summary>
public enum SparseSplit { Auto, Rows, Tiles }

/// <summary>
/// Whether a stride-1 layer runs over <see cref="ShiftedColumns"/>, one copy of its input per kernel column, shifted and
/// cut to the output width, placed at a 64-byte boundary: the padding columns are not computed and, when the output width
/// is a whole number of vectors, every vector load reads a single cache line. <see cref="Auto"/> takes them when the
/// padding columns' multiply-adds alone outweigh the copies (<see cref="ShiftedColumns.Pays"/>); <see cref="On"/> whenever
/// the layer has stride 1 and more than one kernel column; <see cref="Off"/> never.
/// </summary>
public enum ShiftedCopies { Auto, On, Off }

/// <summary>
/// A convolution prepared for inference: weights [O, C/groups, Kh, Kw], an optional bias and a fused activation, computed
/// either by the engine's dense kernels or, for groups = 1, by the sparse kernel, which touches only the nonzero weights
/// (compressed rows, split once across cores by nonzero count). Runs write into caller-owned buffers and allocate
/// nothing in steady state (scratch comes from the engine's buffer pool); a layer may run from several threads at once.
/// </summary>
public sealed class InferenceConv
{
    private readonly float[] _weight;
    private readonly float[]? _bias;
    private readonly SparseRows? _sparse;
    private readonly int[]? _parts;
    // Per input geometry, over the copies or not, packed or not: the nonzeros' layout (made once, then reused).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(PaddedConv.Geometry, bool Shifted, bool Packed, int PerBlock), SparsePlan> _plans = new();

    public int OutChannels { get; }
    public int InChannels { get; }
    public int Groups { get; }
    public (int H, int W) Kernel { get; }
    public (int H, int W) Stride { get; }
    public (int H, int W) Padding { get; }
    public (int H, int W) Dilation { get; }
    public Activation Activation { get; }
    /// <summary>The kernel used by <c>Run</c>; <see cref="ConvKind.Sparse"/> only when <see cref="CanRunSparse"/>.</summary>
    public ConvKind Kind
    {
        get => _kind;
        set { _kind = value; if (value == ConvKind.Sparse) _rowsFirst = null; }
    }
    private ConvKind _kind;
    /// <summary>The sparse kernel's tiles (<see cref="SparseTiling"/>); column tiles always over the copies.</summary>
    public SparseTiling Tiling { get; set; }
    /// <summary>Whether the dense or sparse kernel runs over shifted copies of the input (<see cref="ShiftedCopies"/>).</summary>
    public ShiftedCopies Copies { get; set; }
    /// <summary>
    /// Whether the sparse kernel first copies, per tile and block of input channels, each tap's slice into a 64-byte-aligned
    /// panel (a tile per tap) and reads the nonzeros' inputs from there: each vector load then reads one cache line, where
    /// a slice of the buffer starts anywhere and 15 of 16 loads straddle two; the copy is shared by every output channel.
    /// It pays on layers with many output channels per input at moderate density (DeepLab's 256-1024 channels at 30%).
    /// </summary>
    public bool PackTiles { get; set; }
    /// <summary>How the sparse kernel's work is split across cores (<see cref="SparseSplit"/>).</summary>
    public SparseSplit Split { get; set; }
    /// <summary>
    /// The fewest nonzeros per output channel, on average, that the sparse kernel's blocks of input channels hold (see
    /// <see cref="MakePlan"/>): each block costs a reload and a store of every output channel's sums, so fewer, larger
    /// blocks pay on very sparse layers with many output channels, and smaller ones, whose inputs stay in the L1 cache,
    /// on denser layers. The load-time measurement of a compact model tries <see cref="DefaultNonzerosPerBlock"/> and
    /// larger values.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int NonzerosPerBlock
    {
        get => _nonzerosPerBlock;
        set { ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(NonzerosPerBlock)); _nonzerosPerBlock = value; }
    }
    private int _nonzerosPerBlock = DefaultNonzerosPerBlock;
    public bool CanRunSparse => _sparse is not null;
    public long Weights => _weight.LongLength;
    public long Nonzeros { get; }

    public InferenceConv(float[] weight, int outChannels, int inChannels, (int H, int W) kernel, float[]? bias, (int H, int W) stride,
        (int H, int W) padding, (int H, int W) dilation, int groups, Activation activation)
    {
        if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0) throw new ArgumentException($"InferenceConv: channels {inChannels}→{outChannels} do not fit groups {groups}.");
        int taps = inChannels / groups * kernel.H * kernel.W;
        if (weight.Length != outChannels * taps) throw new ArgumentException($"InferenceConv: {weight.Length} weights for [{outChannels}, {inChannels / groups}, {kernel.H}, {kernel.W}].");
        if (bias is not null && bias.Length != outChannels) throw new ArgumentException($"InferenceConv: bias of {bias.Length} for {outChannels} channels.");
        _weight = weight; _bias = bias;
        OutChannels = outChannels; InChannels = inChannels; Kernel = kernel; Stride = stride; Padding = padding; Dilation = dilation; Groups = groups; Activation = activation;
        long nz = 0;
        foreach (var v in weight) if (v != 0) nz++;
        Nonzeros = nz;
        if (groups == 1)
        {
            _sparse = new SparseRows(weight, outChannels, taps);
            _parts = _sparse.Split(Math.Max(1, Math.Min(Environment.ProcessorCount, outChannels)));
        }
    }

    /// <summary>Output height and width for an input of <paramref name="h"/>×<paramref name="w"/>.</summary>
    public (int H, int W) OutputSize(int h, int w) =>
        ((h + 2 * Padding.H - Dilation.H * (Kernel.H - 1) - 1) / Stride.H + 1, (w + 2 * Padding.W - Dilation.W * (Kernel.W - 1) - 1) / Stride.W + 1);

    /// <summary>
    /// y[n, O, Ho, Wo] = act(conv(x[n, C, h, w]) + bias + residual), y fully overwritten; <paramref name="residual"/>
    /// (shaped as y, at <paramref name="rOff"/>) is optional: a residual sum fused into the convolution saves a pass over memory.
    /// All three in plain NCHW.
    /// </summary>
    public void Run(float[] x, int xOff, int n, int h, int w, float[] y, int yOff, float[]? residual = null, int rOff = 0)
    {
        var (ho, wo) = OutputSize(h, w);
        var yl = ActivationLayout.Plain(n, OutChannels, Math.Max(ho, 0), Math.Max(wo, 0));
        Run(x, xOff, ActivationLayout.Plain(n, InChannels, h, w), y, yOff, yl, residual, rOff, yl);
    }

    /// <summary>
    /// The plain-layout <c>Run</c> with the input, output and residual each in
    /// their own <see cref="ActivationLayout"/>. An input padded as this layer pads (stride 1) is read in place; an output
    /// given a padded layout gets its interior written and its border left alone. Grouped convolutions take plain layouts only.
    /// </summary>
    /// <exception cref="ArgumentException">A layout does not match the layer or its buffer is too small.</exception>
    public unsafe void Run(float[] x, int xOff, in ActivationLayout xl, float[] y, int yOff, in ActivationLayout yl, float[]? residual, int rOff, in ActivationLayout rl)
    {
        var (ho, wo) = OutputSize(xl.H, xl.W);
        if (ho < 1 || wo < 1) throw new ArgumentException($"InferenceConv: input {xl.H}×{xl.W} is smaller than the {Kernel.H}×{Kernel.W} kernel.");
        if (xl.C != InChannels || x.Length - xOff < xl.Capacity) throw new ArgumentException($"InferenceConv: input {xl} does not fit {InChannels} channels or its buffer of {x.Length - xOff}.");
        if (yl != yl with { N = xl.N, C = OutChannels, H = ho, W = wo } || y.Length - yOff < yl.Length) throw new ArgumentException($"InferenceConv: output {yl} is not [{xl.N}, {OutChannels}, {ho}, {wo}] or its buffer is too small.");
        if (residual is not null && ((rl.N, rl.C, rl.H, rl.W) != (yl.N, yl.C, yl.H, yl.W) || residual.Length - rOff < rl.Length)) throw new ArgumentException("InferenceConv: the residual is not shaped as the output.");
        if (Groups == 1 && Trimmed(xl.H, xl.W) is { } live)
        {
            live.Kind = Kind; live.Tiling = Tiling; live.Copies = Copies; live.PackTiles = PackTiles; live.NonzerosPerBlock = NonzerosPerBlock; live.Split = Split;
            live.Run(x, xOff, xl, y, yOff, yl, residual, rOff, rl);
            return;
        }
        if (Groups != 1)
        {
            if (xl.Padded || yl.Padded || (residual is not null && rl.Padded)) throw new ArgumentException("InferenceConv: grouped convolutions take plain layouts only.");
            RunGrouped(x, xOff, xl.N, xl.H, xl.W, ho, wo, y, yOff, residual, rOff);
            return;
        }
        bool inPlace = xl.ServesAsPhaseBuffer(Stride, Padding);
        // A wide input read in place is, from one column of padding before its first column, the phase buffer of an image
        // RowStride − 2·PadW wide whose columns past W are zeros; the outputs past Wo are computed and not stored.
        int width = inPlace && xl.Wide ? xl.RowStride - 2 * Padding.W : xl.W;
        var g = new PaddedConv.Geometry(xl.N, InChannels, xl.H, width, Kernel.H, Kernel.W, Stride.H, Stride.W, Padding.H, Padding.W, Dilation.H, Dilation.W);
        var buf = inPlace ? null : BufferPool.Rent(g.BufferSize + SparseConv.Tile);
        try
        {
            fixed (float* px = x) fixed (float* pbuf = buf) fixed (float* py = y) fixed (float* pr = residual)
            {
                float* pb = inPlace ? px + xOff + xl.Lead - Padding.W : pbuf;
                if (!inPlace)
                {
                    new Span<float>(pb + g.BufferSize - PaddedConv.Slack, PaddedConv.Slack + SparseConv.Tile).Clear();
                    PaddedConv.PrepareAcrossCores(px + xOff + xl.Row(0, 0, 0), xl.ImageStride, xl.ChannelStride, xl.RowStride, g, pb, Math.Max(1, (InChannels + 7) / 8));
                }
                var output = new SparseOutput(py + yOff, yl, residual is null ? null : pr + rOff, rl, _bias, Activation, g.Hq, g.Wq);
                if (Kind == ConvKind.Sparse) RunSparse(g, pb, output);
                else RunDense(g, pb, output);
            }
        }
        finally { if (buf is not null) BufferPool.Return(buf); }
    }

    // Per input size: this layer without the kernel rows and columns that read only padding there (null when none do).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(int, int), InferenceConv?> _trimmed = new();

    /// <summary>
    /// This layer for an h×w input with the kernel rows and columns that read only padding left out (see
    /// <see cref="DeadTaps"/>: a dilation as large as the input), or null when every tap reads the input somewhere.
    /// Made once per input size; same outputs.
    /// </summary>
    private InferenceConv? Trimmed(int h, int w) =>
        _trimmed.TryGetValue((h, w), out var known) ? known : _trimmed.GetOrAdd((h, w), MakeTrimmed);   // no closure per call

    private InferenceConv? MakeTrimmed((int, int) k)
    {
        var (ho, wo) = OutputSize(k.Item1, k.Item2);
        var g = new ConvGeometry(InChannels, k.Item1, k.Item2, Kernel.H, Kernel.W, Stride.H, Stride.W, Padding.H, Padding.W, Dilation.H, Dilation.W, ho, wo);
        var shape = new ConvKernels.Shape(1, InChannels, k.Item1, k.Item2, OutChannels, 1, g);
        if (DeadTaps.Shrunk(shape) is not { } live) return null;
        return new InferenceConv(DeadTaps.Weights(shape, live, _weight, 0), OutChannels, InChannels, (live.G.Kh, live.G.Kw), _bias, Stride,
            (live.G.Ph, live.G.Pw), Dilation, 1, Activation);
    }

    /// <summary>Grouped (and depthwise) convolutions: the engine's dense kernels on plain layouts, then the epilogue in place.</summary>
    private unsafe void RunGrouped(float[] x, int xOff, int n, int h, int w, int ho, int wo, float[] y, int yOff, float[]? residual, int rOff)
    {
        var cg = new ConvGeometry(InChannels / Groups, h, w, Kernel.H, Kernel.W, Stride.H, Stride.W, Padding.H, Padding.W, Dilation.H, Dilation.W, ho, wo);
        var shape = new ConvKernels.Shape(n, InChannels, h, w, OutChannels, Groups, cg);
        if (DepthwiseConv.Applies(shape)) DepthwiseConv.Forward(shape, x, xOff, _weight, 0, y, yOff);
        else
        {
            var g = new PaddedConv.Geometry(n, InChannels / Groups, h, w, Kernel.H, Kernel.W, Stride.H, Stride.W, Padding.H, Padding.W, Dilation.H, Dilation.W);
            int og = OutChannels / Groups, taps = InChannels / Groups * Kernel.H * Kernel.W;
            fixed (float* px = x) fixed (float* pw = _weight) fixed (float* py = y)
                for (int gi = 0; gi < Groups; gi++)
                    PaddedConv.Forward(pw + (long)gi * og * taps, og, px + xOff + (long)gi * (InChannels / Groups) * h * w, InChannels * h * w, g,
                        py + yOff + (long)gi * og * ho * wo, OutChannels * ho * wo, false, Gemm.MaxThreads);
        }
        if (_bias is null && residual is null && Activation == Activation.None) return;
        fixed (float* py = y) fixed (float* pr = residual)
        {
            var epi = new EpilogueBody { Out = py + yOff, Res = residual is null ? null : pr + rOff, Plane = ho * wo, Channels = OutChannels, Bias = _bias, Act = Activation };
            WorkerPool.For(n * OutChannels, ref epi);
        }
    }

    /// <summary>
    /// The engine's dense sums (<see cref="ConvSums"/>: over shifted copies when the phase buffer's columns are mostly padding
    /// and the copies cost less than the padding columns' multiply-adds, in bands of live kernel rows where dilation leaves
    /// some out) into a scratch matrix, then the epilogue row by row into y.
    /// </summary>
    private unsafe void RunDense(in PaddedConv.Geometry g, float* pb, in SparseOutput output)
    {
        bool shifted = TakesCopies(g, (long)OutChannels * g.Taps);
        var copies = shifted ? BufferPool.Rent(ConvSums.CopiesSize(g)) : null;
        var tmp = BufferPool.Rent(OutChannels * (shifted ? ShiftedColumns.Plane(g) : g.Plane));
        if (ConvSums.NeedsRowsFirst(g) && _rowsFirst is null)
        {
            var r = new float[_weight.Length];
            ConvSums.RowsFirst(_weight, OutChannels, InChannels, Kernel.H, Kernel.W, r);
            _rowsFirst = r;
        }
        try
        {
            fixed (float* pc0 = copies) fixed (float* pt = tmp) fixed (float* pw = _weight) fixed (float* prf = _rowsFirst)
            {
                var src = shifted ? ConvSums.Shifted(pb, g, Simd.Align64(pc0), parallel: true) : ConvSums.Phase(pb, g);
                ConvSums.Run(pw, prf, OutChannels, g, src, pt, Gemm.MaxThreads);
                var store = new StoreBody { Sums = pt, Ld = src.Ld, Columns = src.Columns, Output = shifted ? output.WithPhaseWidth(g.Wo) : output };
                WorkerPool.For(OutChannels, ref store);
            }
        }
        finally
        {
            if (copies is not null) BufferPool.Return(copies);
            BufferPool.Return(tmp);
        }
    }

    // The weights with taps ordered by kernel row ([O, Kh, C, Kw]), made at the first banded dense run (null otherwise, and
    // dropped when the layer is set to the sparse kernel).
    private float[]? _rowsFirst;

    /// <summary>Whether this run goes over shifted copies (<see cref="Copies"/>), for <paramref name="macsPerColumn"/> multiply-adds per output position.</summary>
    private bool TakesCopies(in PaddedConv.Geometry g, long macsPerColumn) => Copies switch
    {
        ShiftedCopies.On => ShiftedColumns.Applies(g),
        ShiftedCopies.Off => false,
        _ => ShiftedColumns.Pays(g, macsPerColumn),
    };

    private unsafe void RunSparse(in PaddedConv.Geometry g, float* pb, in SparseOutput output)
    {
        if (TakesCopies(g, Nonzeros))
        {
            // As the dense path: column tiles over the shifted copies compute no padding and stay contiguous.
            var sp = Plan(g, shifted: true, PackTiles);
            var copies = BufferPool.Rent(checked((int)ShiftedColumns.Size(g) + PaddedConv.Slack + SparseConv.Tile + Simd.AlignSlack));
            try
            {
                fixed (float* pc0 = copies)
                {
                    float* pc = Simd.Align64(pc0);
                    ShiftedColumns.Fill(pb, g, pc, PaddedConv.Slack + SparseConv.Tile);
                    SparseConv.Run(_sparse!, sp, pc, ShiftedColumns.Columns(g), output.WithPhaseWidth(g.Wo), _parts!, false, byTiles: ByTiles);
                }
            }
            finally { BufferPool.Return(copies); }
            return;
        }
        bool positions = Tiling == SparseTiling.Positions && output.Width >= 16;
        var plan = Plan(g, shifted: false, packed: PackTiles || positions);
        bool vectors = output.WholeVectors && (Tiling == SparseTiling.Vectors || (Tiling == SparseTiling.Auto && output.Width <= 32));
        SparseConv.Run(_sparse!, plan, pb, g.Columns, output, _parts!, vectors, positions, ByTiles);
    }

    private bool? ByTiles => Split switch { SparseSplit.Rows => false, SparseSplit.Tiles => true, _ => null };

    /// <summary>
    /// The default <see cref="NonzerosPerBlock"/>. <see cref="MakePlan"/> makes the nonzeros' offsets for a geometry, with
    /// input channels blocked so that a block's slices of one tile fit in
    /// about 24 KB: per channel, each phase holds Kh row slices (however far apart dilation puts them) of a tile plus the
    /// kernel's width. A block holds at least <see cref="NonzerosPerBlock"/> nonzeros per output channel on average,
    /// though, since each block costs a reload and a store of the row's accumulators: a very sparse layer with many phases
    /// (a strided 3×3 at 90%) would otherwise spend more on them than on its multiply-adds. Where bands of output rows
    /// leave kernel rows out (<see cref="LiveRows"/>), that counts the nonzeros the bands compute on average (ASPP's
    /// 512→1024 of rate 24 at 36×48 and 30% density: 30% faster than with the count of all nonzeros, measured alternately).
    /// </summary>
    public const int DefaultNonzerosPerBlock = 24;

    private SparsePlan Plan(in PaddedConv.Geometry g, bool shifted, bool packed)
    {
        var key = (g, shifted, packed, NonzerosPerBlock);
        if (!_plans.TryGetValue(key, out var plan)) _plans[key] = plan = MakePlan(g, shifted ? ShiftedColumns.Offsets(g) : PaddedConv.Offsets(g), shifted, packed);
        return plan;
    }

    /// <summary>
    /// The plan for tap offsets into the phase buffer, or into <see cref="ShiftedColumns"/> (a tile slice per tap then),
    /// read in place or packed (a tile per tap).
    /// </summary>
    private SparsePlan MakePlan(in PaddedConv.Geometry g, int[] tapOffsets, bool shifted, bool packed)
    {
        long bytesPerChannel = shifted || packed ? 4L * Kernel.H * Kernel.W * SparseConv.Tile
            : 4L * g.Phases * Kernel.H * (SparseConv.Tile + (Kernel.W - 1) * Dilation.W / Stride.W + 1);
        var bands = LiveRows.Of(g);
        double live = bands is null ? 1 : (double)LiveRows.LiveKernelRows(bands) / ((long)g.Ho * g.Kh);
        double nonzerosPerChannel = live * Nonzeros / ((long)OutChannels * InChannels);
        long forWork = (long)Math.Ceiling(NonzerosPerBlock / Math.Max(nonzerosPerChannel, 1e-9));
        int perBlock = (int)Math.Clamp(Math.Max(24 * 1024 / bytesPerChannel, forWork), 1, InChannels);
        // Blocks of equal size: 16 channels at 15 per block would leave a block of one channel, all overhead.
        int blocks = (InChannels + perBlock - 1) / perBlock;
        perBlock = (InChannels + blocks - 1) / blocks;
        return _sparse!.Plan(tapOffsets, Kernel.H * Kernel.W, perBlock, packed, bands, Kernel.W);
    }

    /// <summary>The end of the dense path, one output channel's sums per iteration, through the epilogue into y.</summary>
    private unsafe struct StoreBody : IParallelBody
    {
        public float* Sums; public int Ld, Columns; public SparseOutput Output;
        public void Run(int o) => Output.Store(Sums + (long)o * Ld, o, 0, Columns);
    }

    /// <summary>The end of the grouped path, one output plane per iteration, in place: y = act(y + bias + residual).</summary>
    private unsafe struct EpilogueBody : IParallelBody
    {
        public float* Out; public float* Res; public int Plane, Channels; public float[]? Bias; public Activation Act;
        public void Run(int k) => Epilogue.Row(Out + (long)k * Plane, Res is null ? null : Res + (long)k * Plane, Bias?[k % Channels] ?? 0f, Act, Out + (long)k * Plane, Plane);
    }
}
