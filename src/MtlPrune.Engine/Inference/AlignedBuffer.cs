using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine.Inference;

/// <summary>
/// Activation buffers whose usable part starts on a 64-byte boundary, as <see cref="ActivationLayout.Wide"/> rows need:
/// pinned, so the garbage collector never moves them off it.
/// </summary>
public static class AlignedBuffer
{
    /// <summary>A pinned buffer with at least <paramref name="size"/> floats from <see cref="Start"/> on.</summary>
    public static float[] New(int size) => GC.AllocateArray<float>(size + Simd.AlignSlack, pinned: true);

    /// <summary>The index of the first float of <paramref name="buffer"/> (made by <see cref="New"/>) on a 64-byte boundary.</summary>
    public static unsafe int Start(float[] buffer)
    {
        fixed (float* p = buffer) return (int)(Simd.Align64(p) - p);
    }
}
