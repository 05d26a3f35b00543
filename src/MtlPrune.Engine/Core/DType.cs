namespace MtlPrune.Engine;

/// <summary>Element types that model files may hold. The engine itself computes in float32.</summary>
public enum DType
{
    F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool,
}

/// <summary>Sizes and safetensors names of <see cref="DType"/> values.</summary>
public static class DTypeInfo
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(DType t) => t switch
    {
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 or DType.I16 => 2,
        DType.F64 or DType.I64 => 8,
        DType.I8 or DType.U8 or DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The safetensors spelling (<c>F32</c>, <c>BOOL</c>, ...).</summary>
    public static string SafetensorsName(DType t) => t == DType.Bool ? "BOOL" : t.ToString().ToUpperInvariant();

    /// <summary>Parses a safetensors dtype string; returns false for types the engine cannot hold.</summary>
    public static bool TryParseSafetensors(string s, out DType t)
    {
        switch (s)
        {
            case "F32": t = DType.F32; return true;
            case "F16": t = DType.F16; return true;
            case "BF16": t = DType.BF16; return true;
            case "F64": t = DType.F64; return true;
            case "I64": t = DType.I64; return true;
            case "I32": t = DType.I32; return true;
            case "I16": t = DType.I16; return true;
            case "I8": t = DType.I8; return true;
            case "U8": t = DType.U8; return true;
            case "BOOL": t = DType.Bool; return true;
            default: t = default; return false;
        }
    }
}
