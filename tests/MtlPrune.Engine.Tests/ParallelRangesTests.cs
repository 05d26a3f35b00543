using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine.Tests;

/// <summary>
/// <see cref="ParallelRanges"/> visits every element exactly once, however the length divides; the elementwise kernels
/// that use it give the definition's values on tensors large enough to be split across cores.
/// </summary>
public class ParallelRangesTests
{
    private unsafe struct Mark : IRangeBody
    {
        public int* Counts;
        public void Run(int start, int count) { for (int i = start; i < start + count; i++) System.Threading.Interlocked.Increment(ref Counts[i]); }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(17)]
    [InlineData(ParallelRanges.MinPerCore * 2)]
    [InlineData(ParallelRanges.MinPerCore * 2 + 1)]
    [InlineData(ParallelRanges.MinPerCore * 5 + 7)]
    public unsafe void EveryElementOnce(int n)
    {
        var counts = new int[n + 1];
        fixed (int* pc = counts)
        {
            var body = new Mark { Counts = pc };
            ParallelRanges.For(n, ref body);
        }
        for (int i = 0; i < n; i++) Assert.Equal(1, counts[i]);
        Assert.Equal(0, counts[n]);
    }

    [Fact]
    public void AddReluAndItsGradientOnALargeTensor()
    {
        int n = ParallelRanges.MinPerCore * 3 + 5;
        var rng = new Rng(9);
        var a = Tensor.Normal(new[] { n }, rng).RequiresGrad_();
        var b = Tensor.Normal(new[] { n }, rng).RequiresGrad_();
        var y = Tensor.AddRelu(a, b);
        var g = Tensor.Normal(new[] { n }, rng);
        y.Backward(g);
        for (int i = 0; i < n; i++)
        {
            float sum = a.Storage[i] + b.Storage[i];
            Assert.Equal(MathF.Max(sum, 0f), y.Storage[i]);
            float want = sum > 0 ? g.Storage[i] : 0f;
            Assert.Equal(want, a.Grad!.Storage[i]);
            Assert.Equal(want, b.Grad!.Storage[i]);
        }
    }
}
