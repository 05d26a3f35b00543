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
}
