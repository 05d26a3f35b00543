using System.Buffers.Binary;
using System.Text;

namespace MtlPrune.Tests.Interop;

/// <summary>Builds pickle byte strings by hand: strings are taken as raw opcode bytes (Latin-1), byte arrays as they are.</summary>
internal static class PickleBytes
{
    public static byte[] P(params object[] parts) => parts.SelectMany(p => p switch
    {
        string s => Encoding.Latin1.GetBytes(s),
        byte[] b => b,
        byte b => new[] { b },
        _ => throw new ArgumentException(p.GetType().Name),
    }).ToArray();

    public static byte[] U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
    public static byte[] I32(int v) { var b = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, v); return b; }
    public static byte[] U64(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return b; }

    /// <summary>BINUNICODE of <paramref name="s"/>.</summary>
    public static byte[] Str(string s) { var u = Encoding.UTF8.GetBytes(s); return P("X", U32((uint)u.Length), u); }

    /// <summary>A small non-negative integer: BININT1 or BININT2.</summary>
    public static byte[] Int(int v) => v < 256 ? P("K", (byte)v) : P("M", (byte)(v & 0xFF), (byte)(v >> 8));

    /// <summary>GLOBAL module.name.</summary>
    public static byte[] Global(string module, string name) => P("c", module, "\n", name, "\n");

    /// <summary>A persistent id for a storage: ('storage', torch.&lt;Type&gt;, key, 'cpu', numel), then BINPERSID.</summary>
    public static byte[] Storage(string type, string key, int numel) => P("(", Str("storage"), Global("torch", type), Str(key), Str("cpu"), Int(numel), "t", "Q");

    /// <summary>torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()).</summary>
    public static byte[] Tensor(byte[] storage, int offset, int[] size, int[] stride) => P(
        Global("torch._utils", "_rebuild_tensor_v2"), "(", storage, Int(offset),
        "(", size.SelectMany(Int).ToArray(), "t", "(", stride.SelectMany(Int).ToArray(), "t",
        "\x89", Global("collections", "OrderedDict"), ")", "R", "t", "R");

    /// <summary>An OrderedDict of name → pickled value, as torch.save writes a state dict.</summary>
    public static byte[] StateDict(params (string Name, byte[] Value)[] items) => P(
        "\x80\x02", Global("collections", "OrderedDict"), ")", "R", "(", items.SelectMany(i => P(Str(i.Name), i.Value)).ToArray(), "u", ".");
}
