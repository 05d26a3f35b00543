namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// Zeroes each element with probability <paramref name="p"/> and scales the rest by 1/(1−p)
    /// (~ <c>F.dropout</c>); the identity when not training. The mask comes from <paramref name="rng"/>,
    /// so a seeded generator gives the same mask.
    /// </summary>
    public static Tensor Dropout(Tensor x, float p, bool training, Rng rng)
    {
        if (p < 0f || p > 1f) throw new ArgumentException($"Dropout: probability {p} must be in [0, 1].");
        if (!training || p == 0f) return x;
        var mask = Empty(x.Shape);
        var ms = mask.Span;
        float keep = p >= 1f ? 0f : 1f / (1f - p);
        for (int i = 0; i < ms.Length; i++) ms[i] = rng.NextDouble() >= p ? keep : 0f;
        return Mul(x, mask);
    }
}
