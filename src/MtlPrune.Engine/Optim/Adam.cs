namespace MtlPrune.Engine.Optim;

/// <summary>
/// Adam (~ <c>torch.optim.Adam</c>), with weight decay as an L2 term added to the gradient. With
/// <see cref="Decoupled"/> it is AdamW (~ <c>torch.optim.AdamW</c>): p ← p·(1 − lr·wd) before the Adam step.
/// Update: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps).
/// </summary>
public class Adam : Optimizer
{
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public bool Decoupled { get; }

    public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : this(new[] { new ParamGroup(parameters, lr, weightDecay) }, beta1, beta2, eps) { }

    public Adam(IEnumerable<ParamGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8) : this(groups, beta1, beta2, eps, false) { }

    protected Adam(IEnumerable<ParamGroup> groups, double beta1, double beta2, double eps, bool decoupled) : base(groups)
    {
        if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1) throw new ArgumentException($"Adam betas ({beta1}, {beta2}) must be in [0, 1).");
        if (eps < 0) throw new ArgumentException($"Adam eps {eps} must be non-negative.");
        Beta1 = beta1; Beta2 = beta2; Eps = eps; Decoupled = decoupled;
    }

    protected override float[][] CreateState(int n) => new[] { new float[n], new float[n] };

    protected override void Update(ParamGroup group, Span<float> p, ReadOnlySpan<float> grad, float[][] state, int step)
    {
        var m = state[0]; var v = state[1];
        // 1 − β is formed in double and then rounded, as PyTorch passes it from Python.
        float c1 = (float)(1 - Beta1), c2 = (float)(1 - Beta2);
        float b1 = (float)Beta1, b2 = (float)Beta2, wd = (float)group.WeightDecay, eps = (float)Eps;
        double bc1 = 1 - Math.Pow(Beta1, step), bc2 = 1 - Math.Pow(Beta2, step);
        float stepSize = (float)(group.Lr / bc1), sqrtBc2 = (float)Math.Sqrt(bc2);
        float decay = Decoupled ? (float)(1 - group.Lr * group.WeightDecay) : 1f;
        for (int i = 0; i < p.Length; i++)
        {
            float g = grad[i];
            if (Decoupled) p[i] *= decay;
            else g += wd * p[i];
            m[i] = b1 * m[i] + c1 * g;
            v[i] = b2 * v[i] + c2 * g * g;
            p[i] -= stepSize * m[i] / (MathF.Sqrt(v[i]) / sqrtBc2 + eps);
        }
    }
}

/// <summary>Adam with decoupled weight decay (~ <c>torch.optim.AdamW</c>; default weight decay 0.01).</summary>
public sealed class AdamW : Adam
{
    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01)
        : base(new[] { new ParamGroup(parameters, lr, weightDecay) }, beta1, beta2, eps, true) { }

    public AdamW(IEnumerable<ParamGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
        : base(groups, beta1, beta2, eps, true) { }
}
