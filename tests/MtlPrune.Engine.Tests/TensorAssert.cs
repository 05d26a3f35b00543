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
}
