using System.Runtime.Intrinsics;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// The kernels' choice of vector width, made once from the hardware (<see cref="Vector512.IsHardwareAccelerated"/>).
/// <see cref="ForceNarrow"/> makes every kernel take its Vector256/scalar fallback, so the tests run the code a machine
/// without AVX-512 would run.
/// </summary>
internal static class Simd
{
    private static readonly bool Hardware512 = Vector512.IsHardwareAccelerated;

    /// <summary>Use the fallbacks even where AVX-512 is available (tests only).</summary>
    public static bool ForceNarrow { get; set; }

    /// <summary>Whether kernels use their Vector512 paths.</summary>
    public static bool Use512 => Hardware512 && !ForceNarrow;

    /// <summary>Floats of slack a buffer needs so that <see cref="Align64"/> of its start leaves its length usable.</summary>
    public const int AlignSlack = 16;

    /// <summary>
    /// The first 64-byte boundary at or after <paramref name="p"/>: a vector load from it, or from a whole number of
    /// vectors past it, reads one cache line instead of straddling two (which halves the loads per cycle and more).
    /// </summary>
    public static unsafe float* Align64(float* p) => (float*)(((nint)p + 63) & ~(nint)63);
}
