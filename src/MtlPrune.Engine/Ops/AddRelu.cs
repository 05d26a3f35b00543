using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// max(a + b, 0) in one pass (~ <c>torch.relu(a + b)</c>, the end of a ResNet block): the same values and gradients
    /// as <c>Add(a, b).Relu()</c>, bit for bit, without writing and re-reading the sum. Tensors of different shapes
    /// (broadcasting) take the two-op path.
    /// </summary>
    public static Tensor AddRelu(Tensor a, Tensor b)
    {
        if (!Autograd.SameShape(a.Shape, b.Shape)) return Add(a, b).Relu();
        var ac = a.Contiguous(); var bc = b.Contiguous();
        var r = Empty(a.Shape);
        AddReluKernel(ac.Span, bc.Span, r.Span);
        return r.WithGrad("AddRelu", new[] { ac, bc }, g =>
        {
            // The ReLU's gradient, passed on unchanged to both addends (as Add's backward passes its gradient).
            var masked = MaskedBy(g, r, 0f, float.PositiveInfinity);
            Autograd.Accumulate(ac, masked);
            Autograd.Accumulate(bc, masked);
        });
    }

    /// <summary>dst = max(a + b, 0), large tensors across cores.</summary>
    private static unsafe void AddReluKernel(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst)
    {
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pd = dst)
        {
            var body = new AddReluBody { A = pa, B = pb, D = pd };
            Kernels.ParallelRanges.For(dst.Length, ref body);
        }
    }

    private unsafe struct AddReluBody : Kernels.IRangeBody
    {
        public float* A, B, D;
        public void Run(int start, int count) =>
            AddReluRange(new ReadOnlySpan<float>(A + start, count), new ReadOnlySpan<float>(B + start, count), new Span<float>(D + start, count));
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void AddReluRange(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst)
    {
        int n = dst.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref float ar = ref MemoryMarshal.GetReference(a);
            ref float br = ref MemoryMarshal.GetReference(b);
            ref float dr = ref MemoryMarshal.GetReference(dst);
            for (; i <= n - 16; i += 16)
                Vector512.Max(Vector512.LoadUnsafe(ref ar, (nuint)i) + Vector512.LoadUnsafe(ref br, (nuint)i), Vector512<float>.Zero).StoreUnsafe(ref dr, (nuint)i);
        }
        for (; i < n; i++) dst[i] = MathF.Max(a[i] + b[i], 0f);
    }
}
