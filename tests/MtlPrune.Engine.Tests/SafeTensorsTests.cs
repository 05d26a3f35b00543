using System.Buffers.Binary;
using System.Text;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Engine.NN;

namespace MtlPrune.Engine.Tests;

public class SafeTensorsTests
{
    /// <summary>Builds a file by hand: u64 header length, the header text as given, then raw data bytes.</summary>
    internal static byte[] Build(string header, params byte[][] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new List<byte>();
        var len = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)h.Length);
        bytes.AddRange(len); bytes.AddRange(h);
        foreach (var d in data) bytes.AddRange(d);
        return bytes.ToArray();
    }

    private static byte[] F32(params float[] v) { var b = new byte[v.Length * 4]; for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(i * 4), v[i]); return b; }

    [Fact]
    public void ReadsHandBuiltFile()
    {
        var bytes = Build("{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]},\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[24,27]},\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[27,29]},\"z\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[29,31]}}   ",
            BitConverter.GetBytes(42L), F32(1, 2, 3, -4.5f), new byte[] { 1, 0, 1 }, new byte[] { 0x00, 0x3C } /* 1.0 half */, new byte[] { 0xC0, 0x3F } /* 1.5 bf16 */);
        var f = SafeTensors.Parse(bytes, "hand.safetensors");
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(new float[] { 1, 2, 3, -4.5f }, f.GetTensor("a").ToArray());
        Assert.Equal(new[] { 2, 2 }, f.GetTensor("a").Shape);
        Assert.Equal(new long[] { 42 }, f.GetInt64("b"));
        Assert.Empty(f.GetTensor("b").Shape);
        Assert.Equal(new float[] { 1, 0, 1 }, f.GetTensor("m").ToArray());
        Assert.Equal(1f, f.GetTensor("h").Item());
        Assert.Equal(1.5f, f.GetTensor("z").Item());
        Assert.Equal(DType.BF16, f.GetTensor("z").FileDType);
    }

    [Theory]
    [InlineData(DType.F32)] [InlineData(DType.F16)] [InlineData(DType.BF16)] [InlineData(DType.F64)]
    [InlineData(DType.I64)] [InlineData(DType.I32)] [InlineData(DType.U8)] [InlineData(DType.Bool)]
    public void RoundTripsEveryDType(DType dtype)
    {
        float[] values = dtype == DType.Bool ? new float[] { 1, 0, 0, 1, 1, 0 }
            : dtype is DType.U8 ? new float[] { 0, 1, 7, 200, 255, 3 }
            : dtype is DType.I64 or DType.I32 ? new float[] { -5, 0, 7, 100000, -1, 3 }
            : new float[] { 0.5f, -2f, 3.25f, 0f, 1024f, -0.125f }; // exact in F16 and BF16
        var t = Tensor.FromArray(values, 2, 3); t.FileDType = dtype;
        using var dir = new TempDir();
        var path = dir.File("x.safetensors");
        SafeTensors.Write(path, new Dictionary<string, Tensor> { ["x"] = t, ["y"] = Tensor.Ones(1) }, new Dictionary<string, string> { ["k"] = "v" });
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(0, (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes) % 8);   // header padded to 8
        var f = SafeTensors.Read(path);
        Assert.Equal(values, f.GetTensor("x").ToArray());
        Assert.Equal(dtype, f.Tensors.Single(i => i.Name == "x").DType);
        Assert.Equal("v", f.Metadata["k"]);
    }

    public static TheoryData<string, byte[], string> Malformed()
    {
        var ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        var tenGb = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(tenGb, 10_000_000_000UL);
        return new()
        {
            { "short", new byte[] { 1, 2, 3 }, "truncated" },
            { "header beyond file", Build(ok)[..20], "truncated" },
            { "10 GB header", tenGb.Concat(new byte[16]).ToArray(), "header claims 10000000000 bytes" },
            { "not an object", Build("[1,2]", new byte[8]), "does not start with '{'" },
            { "overlapping", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]), "overlapping" },
            { "hole", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]), "hole" },
            { "out of range", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]), "beyond the 8-byte data buffer" },
            { "wrong size", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]), "needs 12 bytes" },
            { "not covered", Build(ok, new byte[12]), "not fully covered" },
            { "duplicate", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]), "duplicate key 'a'" },
            { "bad dtype", Build("{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]), "unsupported dtype 'C64'" },
            { "bad metadata", Build("{\"__metadata__\":{\"n\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), "not a string" },
            { "bad json", Build("{\"a\":{\"dtype\":", new byte[8]), "not valid JSON" },
            { "missing field", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", new byte[8]), "lacks" },
            { "negative dim", Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", new byte[8]), "invalid dimension" },
        };
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void RejectsMalformedFilesNamingFileAndFault(string name, byte[] bytes, string fault)
    {
        using var dir = new TempDir();
        var path = dir.File(name.Replace(' ', '_') + ".safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelFormatException>(() => SafeTensors.Read(path));
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith(path, e.Message);
        Assert.Contains(fault, e.Message);
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        var e = Assert.Throws<FileNotFoundException>(() => SafeTensors.Read("/nonexistent/model.safetensors"));
        Assert.Contains("/nonexistent/model.safetensors", e.Message);
    }

    [Fact]
    public void ModelFileRoundTripsAStateDictIncludingI64Buffers()
    {
        using var dir = new TempDir();
        var path = dir.File("net.safetensors");
        var net = new Net(new Rng(1));
        var bn = (BatchNorm2d)net.NamedModules().Single(m => m.Name == "layer1.0.bn1").Module;
        bn.Forward(Tensor.Normal(new[] { 2, 4, 3, 3 }, new Rng(2)));   // moves running stats, counts one batch
        ModelFile.Save(net, path, new Dictionary<string, string> { ["arch"] = "test-net" });
        var file = SafeTensors.Read(path);
        Assert.Equal(DType.I64, file.Tensors.Single(t => t.Name == "layer1.0.bn1.num_batches_tracked").DType);
        Assert.Equal(new long[] { 1 }, file.GetInt64("layer1.0.bn1.num_batches_tracked"));
        Assert.Equal("test-net", file.Metadata["arch"]);
        var other = new Net(new Rng(99));
        Assert.True(ModelFile.Load(other, path).IsClean);
        foreach (var (k, v) in net.StateDict()) Assert.Equal(v.ToArray(), other.StateDict()[k].ToArray());

        var wrong = new Sequential(new Conv2d(3, 4, 3, rng: new Rng(1)));
        var e = Assert.Throws<ModelFormatException>(() => ModelFile.Load(wrong, path));
        Assert.Contains(path, e.Message);
        Assert.Contains("missing keys: 0.weight", e.Message);
    }

    [Fact]
    public void FailedWriteLeavesPreviousFileIntact()
    {
        using var dir = new TempDir();
        var path = dir.File("model.safetensors");
        SafeTensors.Write(path, new Dictionary<string, Tensor> { ["a"] = Tensor.Ones(2) });
        var before = File.ReadAllBytes(path);
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s => { s.Write(new byte[100]); throw new InvalidOperationException("disk full"); }));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.Path));                  // no temporary left behind
        var bad = Tensor.FromArray(new float[] { 300 }, 1); bad.FileDType = DType.U8;
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, new Dictionary<string, Tensor> { ["a"] = bad }));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Throws<DirectoryNotFoundException>(() => SafeTensors.Write(dir.File("no/such/dir/m.safetensors"), new Dictionary<string, Tensor>()));
    }
}
