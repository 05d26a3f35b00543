namespace MtlPrune.Engine;

/// <summary>Global switches and the backward pass of reverse-mode autograd (~ <c>torch.autograd</c>).</summary>
public static class Autograd
{
    [ThreadStatic] private static int _noGradDepth;

    /// <summary>False inside a <see cref="NoGrad"/> scope: ops then record no history.</summary>
    public static bool IsGradEnabled => _noGradDepth == 0;

    /// <summary>A scope in which ops record no graph (~ <c>torch.no_grad()</c>). Dispose to leave it.</summary>
    public static IDisposable NoGrad() => new NoGradScope();

    private sealed class NoGradScope : IDisposable
    {
        private bool _done;
        public NoGradScope() => _noGradDepth++;
        public void Dispose() { if (!_done) { _noGradDepth--; _done = true; } }
    }

    /// <summary>True when an op over these inputs must record a backward step.</summary>
    internal static bool NeedsGrad(Tensor a) => IsGradEnabled && a.RequiresGrad;
    internal static bool NeedsGrad(Tensor a, Tensor b) => IsGradEnabled && (a.RequiresGrad || b.RequiresGrad);
    internal static bool NeedsGrad(params Tensor?[] xs)
    {
        if (!IsGradEnabled) return false;
        foreach (var x in xs) if (x is not null && x.RequiresGrad) return true;
        return false;
    }

    /// <summary>
    /// Adds <paramref name="g"/> to the gradient being accumulated for <paramref name="t"/> during a
    /// backward pass. <paramref name="g"/> must have <paramref name="t"/>'s shape; it is not modified, and
    /// may be shared with other tensors.
    /// </summary>
    public static void Accumulate(Tensor t, Tensor g)
    {
        if (!t.RequiresGrad) return;
        if (!SameShape(t.Shape, g.Shape))
            throw new InvalidOperationException($"Gradient of shape {Tensor.ShapeString(g.Shape)} for tensor of shape {Tensor.ShapeString(t.Shape)} (op {t.GradFn?.Op ?? "leaf"}).");
        if (t.PendingGrad is null) { t.PendingGrad = g; t.PendingOwned = false; }
        else if (t.PendingOwned) Kernels.Elementwise.AddInPlace(t.PendingGrad.Span, g.Contiguous().Span);
        else
        {
            var sum = Tensor.Empty(t.Shape);
            Kernels.Elementwise.Add(t.PendingGrad.Contiguous().Span, g.Contiguous().Span, sum.Span);
            t.PendingGrad = sum; t.PendingOwned = true;
        }
    }

    internal static bool SameShape(int[] a, int[] b) => a.AsSpan().SequenceEqual(b);

    /// <summary>Runs the backward pass from <paramref name="root"/>, seeding it with <paramref name="seed"/> (ones when null).</summary>
    internal static void Backward(Tensor root, Tensor? seed)
    {
        if (!root.RequiresGrad) throw new InvalidOperationException("Backward() on a tensor that does not require grad and has no grad history.");
        if (seed is null)
        {
            if (root.Numel != 1) throw new InvalidOperationException($"Backward() without a gradient needs a scalar, got shape {Tensor.ShapeString(root.Shape)}.");
            seed = Tensor.Ones(root.Shape);
        }
        var order = TopologicalOrder(root);
        root.PendingGrad = seed; root.PendingOwned = false;
        using (NoGrad())
        {
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var t = order[i];
                var g = t.PendingGrad;
                t.PendingGrad = null;
                if (g is null) continue;
                if (t.GradFn is null)
                {
                    // Leaf: accumulate into .Grad (~ tensor.grad), owning the buffer.
                    if (t.Grad is null)
                    {
                        // A pooled buffer that outlives the step's scope: ZeroGrad recycles it.
                        var owned = Tensor.Empty(t.Shape, pooled: true);
                        g.CopyInto(owned.Span);
                        t.Grad = owned;
                        t.GradOwnedByAutograd = true;
                    }
                    else Kernels.Elementwise.AddInPlace(t.Grad.Span, g.Contiguous().Span);
                    t.PendingOwned = false;
                }
                else if (OpProfiler.Enabled)
                {
                    long start = System.Diagnostics.Stopwatch.GetTimestamp();
                    OpProfiler.InBackward = true;
                    try { t.GradFn.Backward(g); }
                    finally { OpProfiler.InBackward = false; }
                    OpProfiler.RecordBackward(t.GradFn.Op, start);
                }
                else t.GradFn.Backward(g);
            }
        }
        if (OpProfiler.Enabled) OpProfiler.Mark();
    }

    private static List<Tensor> TopologicalOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor t, int next)>();
        stack.Push((root, 0)); visited.Add(root);
        while (stack.Count > 0)
        {
            var (t, next) = stack.Pop();
            var inputs = t.GradFn?.Inputs;
            if (inputs is not null && next < inputs.Length)
            {
                stack.Push((t, next + 1));
                var c = inputs[next];
                if (c.RequiresGrad && visited.Add(c)) stack.Push((c, 0));
            }
            else order.Add(t);
        }
        return order;
    }
}
