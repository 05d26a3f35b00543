using System.Buffers.Binary;

namespace MtlPrune.Engine.IO;

/// <summary>Converts little-endian element bytes of any <see cref="DType"/> to and from float32 or int64.</summary>
internal static class ElementConvert
{
    public static float ReadFloat(ReadOnlySpan<byte> b, DType t) => t switch
    {
        DType.F32 => BinaryPrimitives.ReadSingleLittleEndian(b),
        DType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(b),
        DType.BF16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
        DType.F64 => (float)BinaryPrimitives.ReadDoubleLittleEndian(b),
        DType.I64 => BinaryPrimitives.ReadInt64LittleEndian(b),
        DType.I32 => BinaryPrimitives.ReadInt32LittleEndian(b),
        DType.I16 => BinaryPrimitives.ReadInt16LittleEndian(b),
        DType.I8 => (sbyte)b[0],
        DType.U8 => b[0],
        DType.Bool => b[0] != 0 ? 1f : 0f,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    public static long ReadLong(ReadOnlySpan<byte> b, DType t) => t switch
    {
        DType.I64 => BinaryPrimitives.ReadInt64LittleEndian(b),
        DType.I32 => BinaryPrimitives.ReadInt32LittleEndian(b),
        DType.I16 => BinaryPrimitives.ReadInt16LittleEndian(b),
        DType.I8 => (sbyte)b[0],
        DType.U8 => b[0],
        DType.Bool => b[0] != 0 ? 1 : 0,
        _ => checked((long)ReadFloat(b, t)),
    };

    /// <summary>Encodes a float as <paramref name="t"/>; integer types round to nearest and must be in range.</summary>
    public static void WriteFloat(Span<byte> b, float v, DType t)
    {
        switch (t)
        {
            case DType.F32: BinaryPrimitives.WriteSingleLittleEndian(b, v); break;
            case DType.F16: BinaryPrimitives.WriteHalfLittleEndian(b, (Half)v); break;
            case DType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(b, ToBf16(v)); break;
            case DType.F64: BinaryPrimitives.WriteDoubleLittleEndian(b, v); break;
            case DType.I64: BinaryPrimitives.WriteInt64LittleEndian(b, checked((long)MathF.Round(v))); break;
            case DType.I32: BinaryPrimitives.WriteInt32LittleEndian(b, checked((int)MathF.Round(v))); break;
            case DType.I16: BinaryPrimitives.WriteInt16LittleEndian(b, checked((short)MathF.Round(v))); break;
            case DType.I8: b[0] = (byte)checked((sbyte)MathF.Round(v)); break;
            case DType.U8: b[0] = checked((byte)MathF.Round(v)); break;
            case DType.Bool: b[0] = v != 0 ? (byte)1 : (byte)0; break;
            default: throw new ArgumentOutOfRangeException(nameof(t));
        }
    }

    /// <summary>float32 → bfloat16 with round-to-nearest-even (NaN stays NaN).</summary>
    public static ushort ToBf16(float v)
    {
        uint bits = BitConverter.SingleToUInt32Bits(v);
        if (float.IsNaN(v)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Decodes a whole buffer to float32.</summary>
    public static void ToFloats(ReadOnlySpan<byte> src, DType t, Span<float> dst)
    {
        if (t == DType.F32) { System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(src).CopyTo(dst); return; }
        int size = DTypeInfo.SizeOf(t);
        for (int i = 0; i < dst.Length; i++) dst[i] = ReadFloat(src.Slice(i * size, size), t);
    }
}
