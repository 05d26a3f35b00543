using System.Buffers.Binary;
using System.Text;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;

namespace MtlPrune.Engine.Tests;

public class NpyTests
{
    /// <summary>Builds a .npy by hand: magic, version, header length (u16 for v1, u32 for v2/v3), header, data.</summary>
    private static byte[] Build(int major, string dict, byte[] data)
    {
        int pre = major == 1 ? 10 : 12;
        int total = (pre + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - pre - 1) + "\n";
        var b = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 };
        var len = new byte[major == 1 ? 2 : 4];
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
        else BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)header.Length);
        b.AddRange(len);
        b.AddRange((major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetBytes(header));
        b.AddRange(data);
        return b.ToArray();
    }

    private static byte[] F4(params float[] v) { var b = new byte[v.Length * 4]; for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(i * 4), v[i]); return b; }
    private static byte[] F8(params double[] v) { var b = new byte[v.Length * 8]; for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(i * 8), v[i]); return b; }
    private static byte[] I8(params long[] v) { var b = new byte[v.Length * 8]; for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(i * 8), v[i]); return b; }
    private static byte[] I4(params int[] v) { var b = new byte[v.Length * 4]; for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(i * 4), v[i]); return b; }

    [Fact]
    public void ReadsVersion1CAndFortranOrder()
    {
        var c = Npy.Parse(Build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", F4(1, 2, 3, 4, 5, 6)), "c.npy");
        Assert.Equal(new[] { 2, 3 }, c.Shape);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, c.ToTensor().ToArray());
        // Column-major bytes of [[1, 2, 3], [4, 5, 6]] are 1, 4, 2, 5, 3, 6 (AdaShare's depth files look like this).
        var f = Npy.Parse(Build(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", F4(1, 4, 2, 5, 3, 6)), "f.npy");
        Assert.True(f.WasFortranOrder);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, f.ToTensor().ToArray());
        var f3 = Npy.Parse(Build(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 2, 2), }", I4(0, 4, 2, 6, 1, 5, 3, 7)), "f3.npy");
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 5, 6, 7 }, f3.ToInt64());
    }

    [Fact]
    public void ReadsVersions2And3AndAnyKeyOrder()
    {
        var v2 = Npy.Parse(Build(2, "{'shape': (3,), 'fortran_order': False, 'descr': '<i8'}", I8(-1, 5, 1L << 40)), "v2.npy");
        Assert.Equal(2, v2.Version);
        Assert.Equal(new long[] { -1, 5, 1L << 40 }, v2.ToInt64());
        var v3 = Npy.Parse(Build(3, "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": ()}", F8(0.55294118)), "v3.npy");
        Assert.Equal(3, v3.Version);
        Assert.Empty(v3.Shape);
        Assert.Equal(0.55294118f, v3.ToTensor().Item());
    }

    [Theory]
    [InlineData("|u1", new byte[] { 0, 128, 255 }, new float[] { 0, 128, 255 })]
    [InlineData("|i1", new byte[] { 0, 0x80, 0xFF }, new float[] { 0, -128, -1 })]
    [InlineData("|b1", new byte[] { 1, 0, 1 }, new float[] { 1, 0, 1 })]
    [InlineData("<f2", new byte[] { 0x00, 0x3C, 0x00, 0xC0, 0x00, 0x44 }, new float[] { 1, -2, 4 })]
    [InlineData("<i4", new byte[] { 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 0, 0 }, new float[] { 1, -1, 256 })]
    public void ReadsEachDType(string descr, byte[] data, float[] expected)
    {
        var a = Npy.Parse(Build(1, $"{{'descr': '{descr}', 'fortran_order': False, 'shape': (3,), }}", data), "t.npy");
        Assert.Equal(expected, a.ToTensor().ToArray());
        Assert.Equal(expected.Select(v => (long)v).ToArray(), a.ToInt64());
    }

    [Fact]
    public void MtanLabelsStoredAsFloatConvertToInt64()
    {
        var a = Npy.Parse(Build(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", F8(-1, 0, 12, 3)), "label.npy");
        Assert.Equal(new long[] { -1, 0, 12, 3 }, a.ToInt64());
        var frac = Npy.Parse(Build(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", F8(0.5)), "bad.npy");
        var e = Assert.Throws<ModelFormatException>(() => frac.ToInt64());
        Assert.Contains("bad.npy", e.Message);
    }

    [Theory]
    [InlineData(DType.F32, false)] [InlineData(DType.F32, true)] [InlineData(DType.F64, true)] [InlineData(DType.F16, false)]
    [InlineData(DType.U8, true)] [InlineData(DType.I8, false)] [InlineData(DType.I32, false)] [InlineData(DType.I64, true)] [InlineData(DType.Bool, false)]
    public void WriteReadRoundTrip(DType dtype, bool fortran)
    {
        var vals = dtype == DType.Bool ? new float[] { 1, 0, 1, 1, 0, 0 } : new float[] { 0, 1, 2, 3, 4, 100 };
        var t = Tensor.FromArray(vals, 2, 3);
        using var dir = new TempDir();
        var path = dir.File("a.npy");
        Npy.Write(path, t, dtype, fortran);
        var bytes = File.ReadAllBytes(path);
        int hlen = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        Assert.Equal(0, (10 + hlen) % 64);
        var a = Npy.Read(path);
        Assert.Equal(fortran, a.WasFortranOrder);
        Assert.Equal(vals, a.ToTensor().ToArray());
        Npy.Write(path, new long[] { 5, -6 }, new[] { 2 });
        Assert.Equal(new long[] { 5, -6 }, Npy.Read(path).ToInt64());
    }

    public static TheoryData<string, byte[], string> Malformed() => new()
    {
        { "magic", Encoding.ASCII.GetBytes("PK\x03\x04 this is a zip, not npy"), "wrong magic" },
        { "version", Build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", F4(1)).Select((b, i) => i == 6 ? (byte)4 : b).ToArray(), "unsupported .npy version 4.0" },
        { "truncated", Build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", F4(1, 2)), "truncated data" },
        { "trailing", Build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", F4(1, 2)), "unexpected bytes" },
        { "complex", Build(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", F4(1, 2)), "unsupported dtype '<c8'" },
        { "big-endian", Build(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", F4(1)), "big-endian" },
        { "object", Build(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", new byte[8]), "unsupported dtype '|O'" },
        { "header", Build(1, "{'descr': '<f4', 'fortran_order': maybe, 'shape': (1,), }", F4(1)), "fortran_order must be True or False" },
        { "missing key", Build(1, "{'descr': '<f4', 'shape': (1,), }", F4(1)), "missing" },
        { "header beyond file", Build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", F4(1))[..30], "truncated" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void RejectsMalformedFilesNamingFileAndFault(string name, byte[] bytes, string fault)
    {
        using var dir = new TempDir();
        var path = dir.File(name.Replace(' ', '_') + ".npy");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelFormatException>(() => Npy.Read(path));
        Assert.StartsWith(path, e.Message);
        Assert.Contains(fault, e.Message);
    }
}

public class EmptyTensorFileTests
{
    [Fact]
    public void EmptyAndScalarTensorsRoundTripInBothFormats()
    {
        using var dir = new TempDir();
        var empty = Tensor.Zeros(0, 3); var scalar = Tensor.Scalar(2.5f);
        SafeTensors.Write(dir.File("e.safetensors"), new Dictionary<string, Tensor> { ["empty"] = empty, ["scalar"] = scalar });
        var f = SafeTensors.Read(dir.File("e.safetensors"));
        Assert.Equal(new[] { 0, 3 }, f.GetTensor("empty").Shape);
        Assert.Equal(2.5f, f.GetTensor("scalar").Item());
        Npy.Write(dir.File("e.npy"), empty);
        var a = Npy.Read(dir.File("e.npy"));
        Assert.Equal(new[] { 0, 3 }, a.Shape);
        Assert.Empty(a.ToTensor().ToArray());
        Npy.Write(dir.File("s.npy"), scalar);
        Assert.Equal(2.5f, Npy.ReadTensor(dir.File("s.npy")).Item());
        Assert.Empty(Npy.Read(dir.File("s.npy")).Shape);
    }
}
