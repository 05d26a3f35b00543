using System.Runtime.InteropServices;
using MtlPrune.Engine;

namespace MtlPrune.Diagnostics;

/// <summary>A description of the machine and engine configuration, printed by <c>mtlprune info</c> and stored with benchmark results.</summary>
public sealed record SystemReport(
    string EngineVersion, int SimdWidthBits, int FloatLanes, bool Fma, int Cores,
    string Cpu, string Os, string Runtime, long MemoryBytes)
{
    /// <summary>Reads the current machine.</summary>
    public static SystemReport Current() => new(
        EngineInfo.Version, EngineInfo.SimdWidthBits, EngineInfo.FloatLanes, EngineInfo.HasFma, EngineInfo.Cores,
        CpuName(), RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription,
        GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);

    /// <summary>Label/value rows in display order.</summary>
    public IEnumerable<(string Label, string Value)> Rows()
    {
        yield return ("engine version", EngineVersion);
        yield return ("SIMD width in use", $"{SimdWidthBits}-bit ({FloatLanes} float32 lanes){(Fma ? ", FMA" : "")}");
        yield return ("cores", Cores.ToString());
        yield return ("CPU", Cpu);
        yield return ("memory", $"{MemoryBytes / (1024.0 * 1024 * 1024):F1} GiB");
        yield return ("OS", Os);
        yield return ("runtime", Runtime);
    }

    private static string CpuName()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal)) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}
