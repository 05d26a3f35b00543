using MtlPrune.Engine;

namespace MtlPrune.Engine.Tests;

public static class TensorAssert
{
    /// <summary>Asserts equal shapes and |a − b| ≤ atol + rtol·|b| elementwise.</summary>
    public static void Close(Tensor expected, Tensor actual, double atol = 1e-5, double rtol = 1e-5)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        Close(expected.ToArray(), actual.ToArray(), atol, rtol);
    }

    public static void Close(float[] expected, float[] actual, double atol = 1e-5, double rtol = 1e-5)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= atol + rtol * Math.Abs(expected[i]),
                $"element {i}: expected {expected[i]:G7}, got {actual[i]:G7}");
    }

    /// <summary>Asserts ‖actual − reference‖ / ‖reference‖ ≤ <paramref name="tolerance"/> (Frobenius norms, in double).</summary>
    public static void Relative(double[] reference, float[] actual, string what, double tolerance = 1e-5)
    {
        Assert.Equal(reference.Length, actual.Length);
        double num = 0, den = 0;
        for (int i = 0; i < reference.Length; i++) { num += (actual[i] - reference[i]) * (actual[i] - reference[i]); den += reference[i] * reference[i]; }
        double rel = Math.Sqrt(num / Math.Max(den, 1e-30));
        Assert.True(rel <= tolerance, $"{what}: relative error {rel:E2}");
    }
}
