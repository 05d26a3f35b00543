using MtlPrune.Engine;
using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine.Tests;

/// <summary>
/// The Vector256/scalar fallbacks that a machine without AVX-512 runs, forced here with <see cref="Simd.ForceNarrow"/>
/// and checked against the same references as the AVX-512 paths. Other tests running meanwhile may also take the
/// fallbacks; their results must be the same either way.
/// </summary>
public class FallbackKernelTests
{
    private static void Narrow(Action body)
    {
        lock (typeof(FallbackKernelTests))
        {
            Simd.ForceNarrow = true;
            try { body(); }
            finally { Simd.ForceNarrow = false; }
        }
    }

    [Fact]
    public void GemmAndConvolutionMatchReferences() => Narrow(() =>
    {
        var gemm = new GemmTests();
        gemm.MatchesNaive(13, 70, 300, false, true, true);
        gemm.MatchesNaive(130, 1100, 300, false, false, false);
        var conv = new ConvReferenceTests();
        foreach (var row in ConvReferenceTests.Cases())
            conv.KernelsMatchDirectLoops((int[])row[0], (int[])row[1], (int)row[2], (int)row[3], (int)row[4], (int)row[5], (bool)row[6]);
    });

    [Fact]
    public void BatchNormLossesExpAndActivationsMatchReferences() => Narrow(() =>
    {
        new BatchNormReferenceTests().MatchesDoubleReference(true, 4, 17, 9, 11);
        new BatchNormReferenceTests().MatchesDoubleReference(false, 4, 17, 9, 11);
        new KernelTests().VectorExpIsAccurateOverTheFloatRange();
        new KernelTests().CrossEntropyMatchesLogSoftmaxReference(3, 5, 37);
        new OpGradientTests().UnaryOps();
        new OpGradientTests().SoftmaxFamilyAndNormalize();
    });
}
