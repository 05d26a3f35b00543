namespace MtlPrune.Engine;

/// <summary>
/// Training losses (~ <c>torch.nn.functional</c> losses). Every loss averages over valid elements only and
/// returns a scalar tensor of shape []. A loss whose value is NaN or ±∞ throws <see cref="NonFiniteException"/>
/// naming the loss.
/// </summary>
public static partial class Loss
{
    /// <summary>
    /// Pixel-wise cross-entropy (~ <c>F.cross_entropy(logits, target, weight, ignore_index)</c>): logits
    /// [N, C, ...], integral class indices [N, ...] stored as floats. With class weights w the result is
    /// Σ w[y]·(−log p_y) / Σ w[y] over pixels whose label is not <paramref name="ignoreIndex"/>. When every
    /// pixel is ignored the loss is 0 with a zero gradient (PyTorch returns NaN).
    /// </summary>
    /// <exception cref="ArgumentException">Shapes differ, or a label is outside [0, C) and is not the ignore index.</exception>
    public static Tensor CrossEntropy(Tensor logits, Tensor target, int ignoreIndex = -100, Tensor? classWeights = null)
    {
        if (logits.Rank < 2) throw new ArgumentException($"CrossEntropy: logits must be [N, C, ...], got {Tensor.ShapeString(logits.Shape)}.");
        int n = logits.Shape[0], c = logits.Shape[1], s = logits.Numel / Math.Max(n * c, 1);
        var expect = logits.Shape.Where((_, i) => i != 1).ToArray();
        if (!Autograd.SameShape(expect, target.Shape))
            throw new ArgumentException($"CrossEntropy: target shape {Tensor.ShapeString(target.Shape)} does not match logits {Tensor.ShapeString(logits.Shape)} (expected {Tensor.ShapeString(expect)}).");
        if (classWeights is not null && classWeights.Numel != c)
            throw new ArgumentException($"CrossEntropy: class weights have shape {Tensor.ShapeString(classWeights.Shape)}, expected [{c}].");
        var xc = logits.Contiguous();
        var tc = target.Contiguous();
        var ws = classWeights?.Contiguous().Span.ToArray();
        var ts = tc.Span;
        for (int i = 0; i < ts.Length; i++)
        {
            float tv = ts[i];
            int y = (int)tv;
            if (y != tv) throw new ArgumentException($"CrossEntropy: label {tv} at position {i} is not an integer.");
            if (y != ignoreIndex && (uint)y >= (uint)c) throw new ArgumentException($"CrossEntropy: label {y} at position {i} is outside [0, {c}) and is not the ignore index {ignoreIndex}.");
        }
        var lse = Tensor.Empty(new[] { n * s });
        var (num, den) = Kernels.CrossEntropyKernel.Forward(xc.Span, n, c, s, ts, ignoreIndex, ws, lse.Span);
        var result = Tensor.Scalar(den > 0 ? (float)(num / den) : 0f);
        CheckFinite(result, "CrossEntropy");
        return result.WithGrad("CrossEntropy", new[] { xc }, g =>
        {
            float scale = den > 0 ? (float)(g.Item() / den) : 0f;
            var gx = Tensor.Empty(xc.Shape);
            Kernels.CrossEntropyKernel.Backward(xc.Span, n, c, s, tc.Span, ignoreIndex, ws, lse.Span, scale, gx.Span);
            Autograd.Accumulate(xc, gx);
        });
    }

    /// <summary>Mean |pred − target| over elements where <paramref name="mask"/> ≠ 0 (all when null); mask broadcasts to pred.</summary>
    public static Tensor L1(Tensor pred, Tensor target, Tensor? mask = null) =>
        MaskedMean("L1", Tensor.Sub(pred, RequireShape("L1", pred, target)).Abs(), mask);

    /// <summary>Mean (pred − target)² over valid elements (~ <c>F.mse_loss</c> when unmasked).</summary>
    public static Tensor Mse(Tensor pred, Tensor target, Tensor? mask = null) =>
        MaskedMean("MSE", Tensor.Sub(pred, RequireShape("MSE", pred, target)).Square(), mask);

    /// <summary>
    /// Surface-normal loss: 1 − mean cosine between pred and target [N, 3, ...] over pixels where
    /// <paramref name="mask"/> [N, 1, ...] ≠ 0. Both vectors are L2-normalised first.
    /// </summary>
    public static Tensor Normal(Tensor pred, Tensor target, Tensor? mask = null)
    {
        RequireShape("Normal", pred, target);
        Tensor tn;
        using (Autograd.NoGrad()) tn = Tensor.L2Normalize(target);
        var cos = Tensor.Mul(Tensor.L2Normalize(pred), tn).Sum(new[] { 1 }, keepDim: true);
        return MaskedMean("Normal", cos, mask).MulScalar(-1f).AddScalar(1f).Checked("Normal");
    }

    private static Tensor RequireShape(string loss, Tensor pred, Tensor target)
    {
        if (!Autograd.SameShape(pred.Shape, target.Shape))
            throw new ArgumentException($"{loss} loss: prediction shape {Tensor.ShapeString(pred.Shape)} differs from target shape {Tensor.ShapeString(target.Shape)}.");
        return target;
    }

    private static Tensor MaskedMean(string loss, Tensor values, Tensor? mask)
    {
        if (mask is null) return values.Mean().Checked(loss);
        float count;
        try { count = Kernels.Broadcast.SumAll(mask.BroadcastTo(values.Shape).Detach().Contiguous()); }
        catch (ArgumentException) { throw new ArgumentException($"{loss} loss: mask shape {Tensor.ShapeString(mask.Shape)} does not broadcast to {Tensor.ShapeString(values.Shape)}."); }
        var masked = Tensor.Mul(values, mask.Detach()).Sum();
        return (count > 0 ? masked.MulScalar(1f / count) : masked.MulScalar(0f)).Checked(loss);
    }

    /// <summary>Throws <see cref="NonFiniteException"/> when a scalar loss is NaN or infinite.</summary>
    public static void CheckFinite(Tensor loss, string name)
    {
        float v = loss.Item();
        if (!float.IsFinite(v)) throw new NonFiniteException(name, v);
    }

    private static Tensor Checked(this Tensor t, string name) { CheckFinite(t, name); return t; }
}

/// <summary>A loss became NaN or infinite. <see cref="LossName"/> says which; training code adds the step.</summary>
public sealed class NonFiniteException : Exception
{
    public string LossName { get; }
    public float Value { get; }
    public int? Step { get; }

    public NonFiniteException(string lossName, float value, int? step = null)
        : base($"{lossName} loss is {value}{(step is int s ? $" at step {s}" : "")}: check the learning rate, the inputs and the targets.")
    { LossName = lossName; Value = value; Step = step; }

    /// <summary>The same error with the training step recorded.</summary>
    public NonFiniteException AtStep(int step) => new(LossName, Value, step);
}
