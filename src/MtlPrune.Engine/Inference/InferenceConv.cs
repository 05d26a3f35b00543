using System.Numerics.Tensors;
using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine.Inference;

/// <summary>What follows a layer's output in the same pass.</summary>
public enum Activation { None, Relu, Relu6 }

/// <summary>How an <see cref="InferenceConv"/> computes: the engine's dense kernels, or the sparse kernel over the nonzero weights.</summary>
public enum ConvKind { Dense, Sparse }

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
    // Per input size: each nonzero's offset into the phase buffer (resolved once, then reused).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(int, int, int), int[]> _resolved = new();

    public int OutChannels { get; }
    public int InChannels { get; }
    public int Groups { get; }
    public (int H, int W) Kernel { get; }
    public (int H, int W) Stride { get; }
    public (int H, int W) Padding { get; }
    public (int H, int W) Dilation { get; }
    public Activation Activation { get; }
    /// <summary>The kernel used by <see cref="Run"/>; <see cref="ConvKind.Sparse"/> only when <see cref="CanRunSparse"/>.</summary>
    public ConvKind Kind { get; set; }
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
    /// </summary>
    public unsafe void Run(float[] x, int xOff, int n, int h, int w, float[] y, int yOff, float[]? residual = null, int rOff = 0)
    {
        var (ho, wo) = OutputSize(h, w);
        if (ho < 1 || wo < 1) throw new ArgumentException($"InferenceConv: input {h}×{w} is smaller than the {Kernel.H}×{Kernel.W} kernel.");
        if (residual is not null && residual.Length - rOff < n * OutChannels * ho * wo) throw new ArgumentException("InferenceConv: the residual is smaller than the output.");
        if (Kind == ConvKind.Sparse && _sparse is not null) RunSparse(x, xOff, n, h, w, ho, wo, y, yOff, residual, rOff);
        else RunDense(x, xOff, n, h, w, ho, wo, y, yOff, residual, rOff);
    }

    /// <summary>The engine's dense kernels, called directly (one phase buffer for the batch; depthwise by its own kernel).</summary>
    private unsafe void RunDense(float[] x, int xOff, int n, int h, int w, int ho, int wo, float[] y, int yOff, float[]? residual, int rOff)
    {
        var cg = new ConvGeometry(InChannels / Groups, h, w, Kernel.H, Kernel.W, Stride.H, Stride.W, Padding.H, Padding.W, Dilation.H, Dilation.W, ho, wo);
        var shape = new ConvKernels.Shape(n, InChannels, h, w, OutChannels, Groups, cg);
        if (DepthwiseConv.Applies(shape)) DepthwiseConv.Forward(shape, x, xOff, _weight, 0, y, yOff);
        else
        {
            var g = new PaddedConv.Geometry(n, InChannels / Groups, h, w, Kernel.H, Kernel.W, Stride.H, Stride.W, Padding.H, Padding.W, Dilation.H, Dilation.W);
            var offsets = PaddedConv.Offsets(g);
            int og = OutChannels / Groups, taps = InChannels / Groups * Kernel.H * Kernel.W;
            fixed (float* px = x) fixed (float* pw = _weight) fixed (float* py = y)
                for (int gi = 0; gi < Groups; gi++)
                    PaddedConv.Forward(new MatView(pw + (long)gi * og * taps, taps, 1), og, px + xOff + (long)gi * (InChannels / Groups) * h * w, InChannels * h * w, g, offsets,
                        py + yOff + (long)gi * og * ho * wo, OutChannels * ho * wo, false, Gemm.MaxThreads);
        }
        int plane = ho * wo;
        for (int i = 0; i < n; i++)
            for (int o = 0; o < OutChannels; o++)
            {
                var d = y.AsSpan(yOff + (i * OutChannels + o) * plane, plane);
                if (_bias is not null && _bias[o] != 0) TensorPrimitives.Add(d, _bias[o], d);
                if (residual is not null) TensorPrimitives.Add(d, residual.AsSpan(rOff + (i * OutChannels + o) * plane, plane), d);
                InferenceOps.Activate(d, Activation);
            }
    }

    private unsafe void RunSparse(float[] x, int xOff, int n, int h, int w, int ho, int wo, float[] y, int yOff, float[]? residual, int rOff)
    {
        var g = new PaddedConv.Geometry(n, InChannels, h, w, Kernel.H, Kernel.W, Stride.H, Stride.W, Padding.H, Padding.W, Dilation.H, Dilation.W);
        if (!_resolved.TryGetValue((n, h, w), out var resolved)) _resolved[(n, h, w)] = resolved = _sparse!.Resolve(PaddedConv.Offsets(g));
        int ld = (g.Columns + SparseConv.Tile - 1) / SparseConv.Tile * SparseConv.Tile;
        var buf = BufferPool.Rent(g.BufferSize + SparseConv.Tile);
        var tmp = BufferPool.Rent(OutChannels * ld);
        try
        {
            fixed (float* px = x) fixed (float* pb = buf) fixed (float* pt = tmp)
            {
                new Span<float>(pb + g.BufferSize, SparseConv.Tile).Clear();
                PaddedConv.Prepare(px + xOff, InChannels * h * w, g, pb);
                SparseConv.Run(_sparse!, resolved, pb, g.Columns, pt, ld, _parts!);
                int hq = g.Hq, wq = g.Wq, plane = ho * wo;
                for (int i = 0; i < n; i++)
                    for (int o = 0; o < OutChannels; o++)
                    {
                        float b = _bias?[o] ?? 0f;
                        var dst = y.AsSpan(yOff + (i * OutChannels + o) * plane, plane);
                        for (int oh = 0; oh < ho; oh++)
                        {
                            var src = new ReadOnlySpan<float>(pt + (long)o * ld + ((long)i * hq + oh) * wq, wo);
                            var d = dst.Slice(oh * wo, wo);
                            if (residual is not null) TensorPrimitives.Add(src, residual.AsSpan(rOff + (i * OutChannels + o) * plane + oh * wo, wo), d);
                            else src.CopyTo(d);
                            if (b != 0) TensorPrimitives.Add(d, b, d);
                        }
                        InferenceOps.Activate(dst, Activation);
                    }
            }
        }
        finally
        {
            BufferPool.Return(buf);
            BufferPool.Return(tmp);
        }
    }
}
