namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    private bool _requiresGrad;

    /// <summary>
    /// Whether gradients flow to this tensor (~ <c>requires_grad</c>). Set it on leaves (weights, masks,
    /// thresholds); results of ops on such tensors require grad automatically.
    /// </summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (!value && GradFn is not null)
                throw new InvalidOperationException("RequiresGrad cannot be cleared on a non-leaf tensor; use Detach().");
            _requiresGrad = value;
        }
    }

    /// <summary>Accumulated gradient of a leaf after <see cref="Backward()"/> (~ <c>.grad</c>); null until then.</summary>
    public Tensor? Grad
    {
        get => _grad;
        set { _grad = value; GradOwnedByAutograd = false; }   // a gradient assigned from outside is never recycled
    }
    private Tensor? _grad;

    /// <summary>The op that produced this tensor (~ <c>grad_fn</c>); null for leaves.</summary>
    public GradNode? GradFn { get; private set; }

    /// <summary>True for tensors not produced by a recorded op.</summary>
    public bool IsLeaf => GradFn is null;

    /// <summary>Set on leaf gradients that autograd allocated; <see cref="RecycleGrad"/> may return their buffers to the pool.</summary>
    internal bool GradOwnedByAutograd;

    /// <summary>
    /// Clears <see cref="Grad"/> (~ <c>grad = None</c>). A gradient buffer that autograd allocated goes back to the pool
    /// for the next backward pass, and the old gradient tensor is released (using it afterwards throws).
    /// </summary>
    public void RecycleGrad()
    {
        if (Grad is { } g && GradOwnedByAutograd && !g.IsReleased)
        {
            var storage = g.Storage;
            g.Release();
            BufferPool.Return(storage);
        }
        Grad = null;
        GradOwnedByAutograd = false;
    }

    internal Tensor? PendingGrad;
    internal bool PendingOwned;

    /// <summary>Computes gradients of this scalar with respect to every leaf that requires grad (~ <c>backward()</c>).</summary>
    public void Backward() => Autograd.Backward(this, null);

    /// <summary>Backward pass seeded with an explicit output gradient of this tensor's shape.</summary>
    public void Backward(Tensor gradient) => Autograd.Backward(this, gradient);

    /// <summary>A tensor sharing this one's data but with no history and no grad (~ <c>detach()</c>).</summary>
    public Tensor Detach() => new(Storage, Offset, Shape, Strides);

    /// <summary>Sets <see cref="RequiresGrad"/> and returns this tensor (~ <c>requires_grad_()</c>).</summary>
    public Tensor RequiresGrad_(bool value = true) { RequiresGrad = value; return this; }

    /// <summary>Attaches a backward step to an op result when any input requires grad.</summary>
    internal Tensor WithGrad(string op, Tensor[] inputs, Action<Tensor> backward)
    {
        if (OpProfiler.Enabled) OpProfiler.RecordForward(op);
        if (!Autograd.NeedsGrad(inputs)) return this;
        GradFn = new GradNode(op, inputs, backward);
        _requiresGrad = true;
        return this;
    }
}
