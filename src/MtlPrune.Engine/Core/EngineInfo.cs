using System.Reflection;
using System.Runtime.Intrinsics;

namespace MtlPrune.Engine;

/// <summary>What the engine runs with on this machine: version, SIMD width of its kernels, cores.</summary>
public static class EngineInfo
{
    /// <summary>Engine assembly version.</summary>
    public static string Version =>
        typeof(EngineInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(EngineInfo).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>Widest hardware-accelerated vector the kernels use, in bits (512, 256, 128), or 32 for scalar code.</summary>
    public static int SimdWidthBits =>
        Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : Vector128.IsHardwareAccelerated ? 128 : 32;

    /// <summary>float32 lanes per vector at <see cref="SimdWidthBits"/>.</summary>
    public static int FloatLanes => SimdWidthBits / 32;

    /// <summary>Whether fused multiply-add is available in hardware.</summary>
    public static bool HasFma => System.Runtime.Intrinsics.X86.Fma.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported;

    /// <summary>Logical cores the kernels may use.</summary>
    public static int Cores => Environment.ProcessorCount;
}
