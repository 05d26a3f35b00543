using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>Sum of all elements as a tensor of shape [] (~ <c>sum()</c>).</summary>
    public Tensor Sum()
    {
        var r = Scalar(Broadcast.SumAll(this));
        var src = this;
        return r.WithGrad("Sum", new[] { src }, g => Autograd.Accumulate(src, Full(src.Shape, g.Item())));
    }

    /// <summary>Mean of all elements as a tensor of shape [] (~ <c>mean()</c>).</summary>
    public Tensor Mean()
    {
        if (Numel == 0) throw new InvalidOperationException("Mean() of an empty tensor.");
        return Sum().MulScalar(1f / Numel);
    }

    /// <summary>Sum over the given dimensions (~ <c>sum(dim, keepdim)</c>).</summary>
    public Tensor Sum(int[] dims, bool keepDim = false)
    {
        var kept = ReducedShape(dims, true);
        var r = SumToShape(kept);
        return keepDim ? r : r.Reshape(ReducedShape(dims, false));
    }

    /// <summary>Mean over the given dimensions (~ <c>mean(dim, keepdim)</c>).</summary>
    public Tensor Mean(int[] dims, bool keepDim = false)
    {
        long count = 1;
        foreach (var d in dims.Select(d => NormalizeDim(d, Rank)).Distinct()) count *= Shape[d];
        if (count == 0) throw new InvalidOperationException($"Mean over empty dimensions of shape {ShapeString(Shape)}.");
        return Sum(dims, keepDim).MulScalar(1f / count);
    }

    private int[] ReducedShape(int[] dims, bool keep)
    {
        var reduce = new bool[Rank];
        foreach (var d in dims) reduce[NormalizeDim(d, Rank)] = true;
        var s = new List<int>();
        for (int i = 0; i < Rank; i++)
        {
            if (!reduce[i]) s.Add(Shape[i]);
            else if (keep) s.Add(1);
        }
        return s.ToArray();
    }
}
