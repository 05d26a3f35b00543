namespace MtlPrune.Engine;

/// <summary>
/// The recorded backward step of one op (~ <c>grad_fn</c>): its inputs and a closure that, given the
/// gradient of the op's output, accumulates the gradients of the inputs with <see cref="Autograd.Accumulate"/>.
/// </summary>
public sealed class GradNode
{
    /// <summary>Op name, for error messages and graph dumps.</summary>
    public string Op { get; }
    internal readonly Tensor[] Inputs;
    internal readonly Action<Tensor> Backward;

    internal GradNode(string op, Tensor[] inputs, Action<Tensor> backward)
    {
        Op = op;
        Inputs = inputs;
        Backward = backward;
    }
}
