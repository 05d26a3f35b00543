using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// Matrix product (~ <c>torch.matmul</c>) of [M,K]·[K,N], or batched [B,M,K]·[B,K,N].
    /// </summary>
    /// <exception cref="ArgumentException">Inner dimensions or batch sizes differ; the message names both shapes.</exception>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        bool batched = a.Rank == 3 && b.Rank == 3;
        if (!(a.Rank == 2 && b.Rank == 2) && !batched)
            throw new ArgumentException($"MatMul: expected two 2-D or two 3-D tensors, got {ShapeString(a.Shape)} and {ShapeString(b.Shape)}.");
        int bs = batched ? a.Shape[0] : 1;
        int m = a.Shape[^2], k = a.Shape[^1], k2 = b.Shape[^2], n = b.Shape[^1];
        if (k != k2 || (batched && b.Shape[0] != bs))
            throw new ArgumentException($"MatMul: shapes {ShapeString(a.Shape)} and {ShapeString(b.Shape)} do not match.");
        var ac = a.Contiguous(); var bc = b.Contiguous();
        var r = Empty(batched ? new[] { bs, m, n } : new[] { m, n });
        for (int i = 0; i < bs; i++)
            Gemm.Sgemm(false, false, m, n, k, ac.Span.Slice(i * m * k, m * k), k, bc.Span.Slice(i * k * n, k * n), n, r.Span.Slice(i * m * n, m * n), n, false);
        return r.WithGrad("MatMul", new[] { ac, bc }, g =>
        {
            var gs = g.Contiguous().Span;
            if (ac.RequiresGrad)
            {
                var ga = Empty(ac.Shape);
                for (int i = 0; i < bs; i++)
                    Gemm.Sgemm(false, true, m, k, n, gs.Slice(i * m * n, m * n), n, bc.Span.Slice(i * k * n, k * n), n, ga.Span.Slice(i * m * k, m * k), k, false);
                Autograd.Accumulate(ac, ga);
            }
            if (bc.RequiresGrad)
            {
                var gb = Empty(bc.Shape);
                for (int i = 0; i < bs; i++)
                    Gemm.Sgemm(true, false, k, n, m, ac.Span.Slice(i * m * k, m * k), k, gs.Slice(i * m * n, m * n), n, gb.Span.Slice(i * k * n, k * n), n, false);
                Autograd.Accumulate(bc, gb);
            }
        });
    }

    /// <summary>
    /// y = x·Wᵀ + b for x [N, in], W [out, in], b [out] (~ <c>F.linear</c>).
    /// </summary>
    /// <exception cref="ArgumentException">Feature sizes differ; the message names the shapes.</exception>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        if (x.Rank != 2 || weight.Rank != 2 || x.Shape[1] != weight.Shape[1])
            throw new ArgumentException($"Linear: input {ShapeString(x.Shape)} does not match weight {ShapeString(weight.Shape)} (expected [N, in] and [out, in]).");
        int n = x.Shape[0], inF = x.Shape[1], outF = weight.Shape[0];
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != outF))
            throw new ArgumentException($"Linear: bias {ShapeString(bias.Shape)} does not match weight {ShapeString(weight.Shape)}.");
        var xc = x.Contiguous(); var wc = weight.Contiguous(); var bc = bias?.Contiguous();
        var y = Empty(new[] { n, outF });
        Gemm.Sgemm(false, true, n, outF, inF, xc.Span, inF, wc.Span, inF, y.Span, outF, false);
        if (bc is not null) for (int i = 0; i < n; i++) Elementwise.AddInPlace(y.Span.Slice(i * outF, outF), bc.Span);
        var inputs = bc is null ? new[] { xc, wc } : new[] { xc, wc, bc };
        return y.WithGrad("Linear", inputs, g =>
        {
            var gs = g.Contiguous().Span;
            if (xc.RequiresGrad)
            {
                var gx = Empty(xc.Shape);
                Gemm.Sgemm(false, false, n, inF, outF, gs, outF, wc.Span, inF, gx.Span, inF, false);
                Autograd.Accumulate(xc, gx);
            }
            if (wc.RequiresGrad)
            {
                var gw = Empty(wc.Shape);
                Gemm.Sgemm(true, false, outF, inF, n, gs, outF, xc.Span, inF, gw.Span, inF, false);
                Autograd.Accumulate(wc, gw);
            }
            if (bc is not null && bc.RequiresGrad) Autograd.Accumulate(bc, g.SumToShape(bc.Shape));
        });
    }
}
