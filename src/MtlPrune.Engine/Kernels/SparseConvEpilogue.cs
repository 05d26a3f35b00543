using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// The end of <see cref="SparseConv"/>'s last block of input channels: y = act(sums + bias + residual) straight from the
/// accumulators into y, a tile's 8 vectors each at its own place (vector tiles) or in its two pieces under masks
/// (position tiles), in the same order of operations as <see cref="Inference.Epilogue.Row"/>.
/// </summary>
internal static unsafe partial class SparseConv
{
    /// <summary>
    /// Where <see cref="Rows512"/> puts row k's 8 vectors after its last block: <see cref="OutVectors"/> for channel k, from
    /// row 0 of the call on; or, with <see cref="Pieces"/> (position tiles), each vector in its two pieces.
    /// </summary>
    private struct OutRows
    {
        public float* Y, Residual, Bias; public long YStride, RStride; public long* YOff, ROff; public Inference.Activation Act;
        public Piece* Pieces;
    }

    /// <summary>
    /// Where a position tile's vector goes in y (and comes from in the residual), channel 0: lanes [0, LengthA) from
    /// YA on, lanes [LengthA, LengthA + LengthB) from YB on (the next output row's start); none when both are 0.
    /// </summary>
    private struct Piece { public long YA, YB, RA, RB; public int LengthA, LengthB; }

    /// <summary>
    /// <see cref="Finish"/> for one vector of a position tile: y = act(sum + bias + residual) in the same order as
    /// <see cref="Inference.Epilogue.Row"/>, stored and read under masks in the vector's two pieces (masked lanes are
    /// neither read nor written, so a piece's base may lie before the buffer).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishPiece(Vector512<float> c, float* y, float* residual, Piece* p, float bias, Inference.Activation act)
    {
        int la = p->LengthA, n = la + p->LengthB;
        if (n == 0) return;
        c += Vector512.Create(bias);
        if (n == 16 && la == 16)
        {
            if (residual != null) c += Vector512.Load(residual + p->RA);
            Activate(ref c, act);
            c.Store(y + p->YA);
            return;
        }
        var lanes = Vector512<int>.Indices;
        var ma = Vector512.LessThan(lanes, Vector512.Create(la)).AsSingle();
        var mb = Vector512.LessThan(lanes, Vector512.Create(n)).AsSingle() & ~ma;
        if (residual != null)
        {
            var r = Avx512F.MaskLoad(residual + p->RA, ma, Vector512<float>.Zero);
            c += Avx512F.MaskLoad(residual + p->RB - la, mb, r);
        }
        Activate(ref c, act);
        Avx512F.MaskStore(y + p->YA, ma, c);
        Avx512F.MaskStore(y + p->YB - la, mb, c);
    }

    /// <summary>c = act(c): ReLU, or ReLU then 6 at most (ReLU6).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Activate(ref Vector512<float> c, Inference.Activation act)
    {
        if (act == Inference.Activation.None) return;
        c = Vector512.Max(c, Vector512<float>.Zero);
        if (act == Inference.Activation.Relu6) c = Vector512.Min(c, Vector512.Create(6f));
    }

    /// <summary>Where <see cref="Finish"/> puts its 8 vectors: y[Y + YOff[j]] = act(sum + Bias + Residual[ROff[j]]).</summary>
    private readonly struct OutVectors(float* y, float* residual, long* yOff, long* rOff, float bias, Inference.Activation act)
    {
        public readonly float* Y = y, Residual = residual;
        public readonly long* YOff = yOff, ROff = rOff;
        public readonly float Bias = bias;
        public readonly Inference.Activation Act = act;
    }

    /// <summary>
    /// The end of <see cref="Vectors512"/> for a vector tile's last block of input channels: y = act(sum + bias +
    /// residual), each vector stored at its own place in y (the same sums in the same order as
    /// <see cref="Inference.Epilogue.Row"/> applies them). Saves a store and a reload of the tile, and an epilogue call
    /// per vector where output rows are one vector wide.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3, Vector512<float> c4,
        Vector512<float> c5, Vector512<float> c6, Vector512<float> c7, OutVectors* to)
    {
        var bias = Vector512.Create(to->Bias);
        c0 += bias; c1 += bias; c2 += bias; c3 += bias; c4 += bias; c5 += bias; c6 += bias; c7 += bias;
        if (to->Residual != null)
        {
            float* r = to->Residual; long* ro = to->ROff;
            c0 += Vector512.Load(r + ro[0]); c1 += Vector512.Load(r + ro[1]); c2 += Vector512.Load(r + ro[2]); c3 += Vector512.Load(r + ro[3]);
            c4 += Vector512.Load(r + ro[4]); c5 += Vector512.Load(r + ro[5]); c6 += Vector512.Load(r + ro[6]); c7 += Vector512.Load(r + ro[7]);
        }
        var act = to->Act;
        Activate(ref c0, act); Activate(ref c1, act); Activate(ref c2, act); Activate(ref c3, act);
        Activate(ref c4, act); Activate(ref c5, act); Activate(ref c6, act); Activate(ref c7, act);
        float* y = to->Y; long* yo = to->YOff;
        c0.Store(y + yo[0]); c1.Store(y + yo[1]); c2.Store(y + yo[2]); c3.Store(y + yo[3]);
        c4.Store(y + yo[4]); c5.Store(y + yo[5]); c6.Store(y + yo[6]); c7.Store(y + yo[7]);
    }
}
