using MtlPrune.Engine;

namespace MtlPrune.Engine.Tests;

/// <summary>
/// The one helper that checks an op's values and gradients (tinygrad's <c>helper_test_op</c> idea): the
/// analytic gradient of L = Σ f(x)·R (R fixed random) from <see cref="Tensor.Backward()"/> is compared with
/// central finite differences (L(x+ε) − L(x−ε)) / 2ε, L summed in double.
/// </summary>
/// <remarks>
/// Tolerances, stated and justified: the engine computes in float32, so each output carries a relative
/// rounding error of about 6e-8. Summed over m ≤ 10^4 outputs of size ≤ 10 that is ≲ 1e-5 absolute in L,
/// which the difference quotient divides by 2ε = 0.02 (ε = 1e-2): ≲ 5e-4. The truncation error ε²·f'''/6
/// is ≲ 2e-5 for the smooth ops here. So |analytic − numeric| ≤ 3e-3 + 2e-2·|numeric| leaves a wide margin
/// for float noise, while a wrong gradient (a missing term, a transposed index) is off by O(1).
/// Non-smooth ops (relu, abs, max-pool, clamp) are fed inputs at least 2.5ε away from their kinks and ties
/// (<see cref="Spread"/>), so the difference quotient never crosses one.
/// </remarks>
public static class GradCheck
{
    public const double Eps = 1e-2, Atol = 3e-3, Rtol = 2e-2;

    /// <summary>Checks every input that requires grad; at most <paramref name="maxPerInput"/> random elements of each.</summary>
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, int maxPerInput = 120, ulong seed = 1,
        double atol = Atol, double rtol = Rtol, string? label = null)
    {
        var rng = new Rng(seed);
        foreach (var x in inputs) x.Grad = null;
        var y = f(inputs);
        var r = Tensor.Uniform(y.Shape, rng, -1f, 1f);
        var rs = r.ToArray();
        var loss = Tensor.Mul(y, r).Sum();
        loss.Backward();
        double L()
        {
            using var _ = Autograd.NoGrad();
            var v = f(inputs).ToArray();
            double s = 0;
            for (int i = 0; i < v.Length; i++) s += (double)v[i] * rs[i];
            return s;
        }
        for (int k = 0; k < inputs.Length; k++)
        {
            var x = inputs[k];
            if (!x.RequiresGrad) continue;
            Assert.True(x.Grad is not null, $"{label}: input {k} got no gradient");
            Assert.Equal(x.Shape, x.Grad!.Shape);
            var ga = x.Grad.ToArray();
            var idx = Enumerable.Range(0, x.Numel).ToList();
            if (idx.Count > maxPerInput) { rng.Shuffle(idx); idx = idx.Take(maxPerInput).ToList(); }
            var data = x.Span;
            foreach (var i in idx)
            {
                float orig = data[i];
                data[i] = orig + (float)Eps; double lp = L();
                data[i] = orig - (float)Eps; double lm = L();
                data[i] = orig;
                double num = (lp - lm) / (2 * Eps);
                double err = Math.Abs(ga[i] - num);
                Assert.True(err <= atol + rtol * Math.Abs(num),
                    $"{label}: input {k} {Tensor.ShapeString(x.Shape)} element {i}: analytic {ga[i]:G6}, numeric {num:G6}");
            }
        }
    }

    /// <summary>Random normal leaf that requires grad.</summary>
    public static Tensor Randn(Rng rng, params int[] shape) => Tensor.Normal(shape, rng).RequiresGrad_();

    /// <summary>
    /// Distinct values (a shuffled grid with spacing 0.05 centred on 0, none closer than 0.025 to 0), that
    /// require grad: safe for ops with kinks or ties.
    /// </summary>
    public static Tensor Spread(Rng rng, params int[] shape)
    {
        int n = shape.Aggregate(1, (a, d) => a * d);
        var perm = Enumerable.Range(0, n).ToList();
        rng.Shuffle(perm);
        var v = perm.Select(p => (float)((p - n / 2 + 0.5) * 0.05)).ToArray();
        return Tensor.FromArray(v, shape).RequiresGrad_();
    }
}
