namespace MtlPrune.Engine.NN;

/// <summary>Which fan Kaiming initialisation scales by (~ <c>mode='fan_in'|'fan_out'</c>).</summary>
public enum FanMode { FanIn, FanOut }

/// <summary>
/// Weight initialisers (~ <c>torch.nn.init</c>), each drawing from an explicit seeded <see cref="Rng"/> and
/// writing in place without recording autograd history.
/// </summary>
public static class Init
{
    /// <summary>(fan_in, fan_out) of a weight: dims 1 and 0 times the receptive field (~ <c>_calculate_fan_in_and_fan_out</c>).</summary>
    public static (int FanIn, int FanOut) Fans(Tensor t)
    {
        if (t.Rank < 2) throw new ArgumentException($"Fan in and fan out need a tensor of rank >= 2, got {Tensor.ShapeString(t.Shape)}.");
        int receptive = 1;
        for (int i = 2; i < t.Rank; i++) receptive *= t.Shape[i];
        return (t.Shape[1] * receptive, t.Shape[0] * receptive);
    }

    /// <summary>N(0, gain²/fan) with gain √2 for ReLU (~ <c>kaiming_normal_</c>).</summary>
    public static void KaimingNormal(Tensor t, Rng rng, FanMode mode = FanMode.FanIn, double gain = 1.4142135623730951)
    {
        var (fi, fo) = Fans(t);
        Normal(t, rng, 0, gain / Math.Sqrt(mode == FanMode.FanIn ? fi : fo));
    }

    /// <summary>U(−b, b) with b = gain·√(3/fan) (~ <c>kaiming_uniform_</c>).</summary>
    public static void KaimingUniform(Tensor t, Rng rng, FanMode mode = FanMode.FanIn, double gain = 1.4142135623730951)
    {
        var (fi, fo) = Fans(t);
        double b = gain * Math.Sqrt(3.0 / (mode == FanMode.FanIn ? fi : fo));
        Uniform(t, rng, -b, b);
    }

    /// <summary>N(0, gain²·2/(fan_in + fan_out)) (~ <c>xavier_normal_</c>).</summary>
    public static void XavierNormal(Tensor t, Rng rng, double gain = 1.0)
    {
        var (fi, fo) = Fans(t);
        Normal(t, rng, 0, gain * Math.Sqrt(2.0 / (fi + fo)));
    }

    /// <summary>U(−b, b) with b = gain·√(6/(fan_in + fan_out)) (~ <c>xavier_uniform_</c>).</summary>
    public static void XavierUniform(Tensor t, Rng rng, double gain = 1.0)
    {
        var (fi, fo) = Fans(t);
        double b = gain * Math.Sqrt(6.0 / (fi + fo));
        Uniform(t, rng, -b, b);
    }

    /// <summary>N(mean, std²) (~ <c>normal_</c>).</summary>
    public static void Normal(Tensor t, Rng rng, double mean, double std)
    {
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = (float)(mean + std * rng.NextNormal());
    }

    /// <summary>U(low, high) (~ <c>uniform_</c>).</summary>
    public static void Uniform(Tensor t, Rng rng, double low, double high)
    {
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = (float)(low + (high - low) * rng.NextDouble());
    }

    /// <summary>Fills with a constant (~ <c>constant_</c>).</summary>
    public static void Constant(Tensor t, float value) => t.Fill_(value);

    /// <summary>
    /// PyTorch's default for Conv2d and Linear: weight kaiming_uniform(a=√5), i.e. U(±1/√fan_in), and bias
    /// U(±1/√fan_in).
    /// </summary>
    public static void PyTorchDefault(Tensor weight, Tensor? bias, Rng rng)
    {
        var (fi, _) = Fans(weight);
        double b = 1.0 / Math.Sqrt(fi);
        Uniform(weight, rng, -b, b);
        if (bias is not null) Uniform(bias, rng, -b, b);
    }

    /// <summary>
    /// The process-wide default generator that layers use when none is passed (~ <c>torch.manual_seed</c>).
    /// Not thread-safe: build models on one thread, or pass an explicit <see cref="Rng"/>.
    /// </summary>
    public static Rng DefaultRng { get; private set; } = new(0);

    /// <summary>Reseeds <see cref="DefaultRng"/> (~ <c>torch.manual_seed</c>).</summary>
    public static void ManualSeed(ulong seed) => DefaultRng = new Rng(seed);
}
