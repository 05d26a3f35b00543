using System.Buffers.Binary;
using System.Text;
using MtlPrune.Deploy;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Models;
using MtlPrune.Pruning;
using MtlPrune.Tests.Fuzz;
using MtlPrune.Training;

namespace MtlPrune.Tests.Deploy;

/// <summary>The .mtlp format: bytes built by hand, bit-exact round trips, the size goal, and malformed files.</summary>
public class MtlpFileTests
{
    /// <summary>
    /// Two 1×1 convolutions written byte by byte: conv1 (2→2, ReLU) with its weight in CSR and its bias as a bitmask,
    /// conv2 (2→1) with a dense weight. For x = (3, 4): conv1 = relu(1.5·3 + 0, −2·4 + 0.5) = (4.5, 0); conv2 = 4.5.
    /// </summary>
    private const string Header =
        "{\"spec\":{},\"inputChannels\":2," +
        "\"nodes\":[{\"op\":\"Conv\",\"inputs\":[0],\"output\":1,\"weight\":\"w1\",\"bias\":\"b1\",\"activation\":\"Relu\"}," +
        "{\"op\":\"Conv\",\"inputs\":[1],\"output\":2,\"weight\":\"w2\"}]," +
        "\"outputs\":[{\"task\":\"y\",\"value\":2}],\"metadata\":{\"note\":\"by hand\"}," +
        "\"tensors\":[{\"name\":\"w1\",\"shape\":[2,2,1,1],\"encoding\":\"csr\",\"dType\":\"f32\",\"offset\":0,\"length\":24,\"nonzeros\":2}," +
        "{\"name\":\"b1\",\"shape\":[2],\"encoding\":\"bitmask\",\"dType\":\"f32\",\"offset\":24,\"length\":5,\"nonzeros\":1}," +
        "{\"name\":\"w2\",\"shape\":[1,2,1,1],\"encoding\":\"dense\",\"dType\":\"f32\",\"offset\":32,\"length\":8,\"nonzeros\":2}]}";

    private static byte[] HandBuilt(Action<List<byte>>? patchData = null, string? header = null)
    {
        var data = new List<byte>();
        void U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); data.AddRange(b); }
        void U16(ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); data.AddRange(b); }
        void F32(float v) { var b = new byte[4]; BinaryPrimitives.WriteSingleLittleEndian(b, v); data.AddRange(b); }
        U32(0); U32(1); U32(2); U16(0); U16(1); F32(1.5f); F32(-2f);     // w1: csr, 24 bytes at 0
        data.Add(0b10); F32(0.5f);                                        // b1: bitmask, 5 bytes at 24
        data.AddRange(new byte[3]);                                       // align to 32
        F32(1f); F32(1f);                                                 // w2: dense, 8 bytes at 32
        patchData?.Invoke(data);
        header ??= Header;
        var h = Encoding.UTF8.GetBytes(header);
        var file = new List<byte>(Encoding.ASCII.GetBytes("MTLP"));
        var u = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(u, 1); file.AddRange(u);
        BinaryPrimitives.WriteUInt32LittleEndian(u, (uint)h.Length); file.AddRange(u);
        file.AddRange(h); file.AddRange(data);
        return file.ToArray();
    }

    [Fact]
    public void ReadsBytesBuiltByHand()
    {
        var g = MtlpFile.Parse(HandBuilt(), "hand.mtlp");
        Assert.Equal(new[] { 1.5f, 0f, 0f, -2f }, g.Tensors["w1"].Data);
        Assert.Equal(new[] { 0f, 0.5f }, g.Tensors["b1"].Data);
        Assert.Equal(new[] { 1f, 1f }, g.Tensors["w2"].Data);
        Assert.Equal("by hand", g.Metadata["note"]);
        var y = new CompactModel(g).Run(Tensor.FromArray(new[] { 3f, 4f }, 1, 2, 1, 1));
        Assert.Equal(new[] { 4.5f }, y["y"].ToArray());
    }

    public static TheoryData<string, string> HandFaults => new()
    {
        { "\"offset\":32,\"length\":8", "\"offset\":32,\"length\":12" },        // dense length
        { "\"nonzeros\":1}", "\"nonzeros\":2}" },                             // bitmask count
        { "\"encoding\":\"csr\"", "\"encoding\":\"coo\"" },
        { "\"dType\":\"f32\",\"offset\":0", "\"dType\":\"bf16\",\"offset\":0" },
        { "\"offset\":24", "\"offset\":40" },                                   // outside the data section
        { "\"weight\":\"w2\"", "\"weight\":\"w3\"" },                           // missing tensor
        { "\"shape\":[1,2,1,1]", "\"shape\":[1,3,1,1]" },                       // conv does not fit its input
        { "\"inputs\":[1]", "\"inputs\":[5]" },                                 // reads a value never computed
        { "\"value\":2", "\"value\":9" },
        { "\"op\":\"Conv\",\"inputs\":[0]", "\"op\":\"Softmax\",\"inputs\":[0]" },
        { "\"inputChannels\":2", "\"inputChannels\":0" },
        { "\"shape\":[2]", "\"shape\":[-2]" },
    };

    [Theory, MemberData(nameof(HandFaults))]
    public void NamesTheFaultOfAMalformedHeader(string from, string to)
    {
        Assert.Contains(from, Header);
        var e = Assert.Throws<ModelFormatException>(() => MtlpFile.Parse(HandBuilt(header: Header.Replace(from, to)), "bad.mtlp"));
        Assert.StartsWith("bad.mtlp", e.Message);
    }

    [Fact]
    public void NamesTheFaultOfMalformedData()
    {
        // CSR column beyond the tensor's columns.
        var e = Assert.Throws<ModelFormatException>(() => MtlpFile.Parse(HandBuilt(d => d[14] = 7), "col.mtlp"));
        Assert.Contains("column 7", e.Message);
        // CSR row starts out of order.
        e = Assert.Throws<ModelFormatException>(() => MtlpFile.Parse(HandBuilt(d => d[4] = 3), "rows.mtlp"));
        Assert.Contains("row starts", e.Message);
        // A bitmask bit beyond the tensor's two elements.
        e = Assert.Throws<ModelFormatException>(() => MtlpFile.Parse(HandBuilt(d => d[24] = 0b110), "bits.mtlp"));
        Assert.Contains("marks", e.Message);
        var bytes = HandBuilt();
        foreach (var (mutate, fault) in new (Action<byte[]>, string)[]
                 {
                     (b => b[0] = (byte)'X', "MTLP"), (b => b[4] = 2, "version 2"), (b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), 1u << 30), "header of"),
                     (b => b[12] = (byte)'[', "header is not valid"),
                 })
        {
            var b = (byte[])bytes.Clone(); mutate(b);
            e = Assert.Throws<ModelFormatException>(() => MtlpFile.Parse(b, "m.mtlp"));
            Assert.Contains(fault, e.Message);
        }
        for (int len = 0; len < bytes.Length; len++)
            Assert.StartsWith("cut.mtlp", Assert.Throws<ModelFormatException>(() => MtlpFile.Parse(bytes[..len], "cut.mtlp")).Message);
    }

    [Theory]
    [InlineData(0.0), InlineData(0.5), InlineData(0.9), InlineData(0.99)]
    public void RoundTripIsBitExactAndPicksTheSmallestEncoding(double sparsity)
    {
        using var dir = new TempDir();
        var g = GraphPasses.Optimize(ModelLowering.Lower(DeployFixtures.Pruned(DeployFixtures.ResNet(), sparsity)));
        g.Metadata["k"] = "v";
        var table = MtlpFile.Write(g, dir.File("m.mtlp"));
        var back = MtlpFile.Read(dir.File("m.mtlp"));
        Assert.Equal(g.Tensors.Keys.Order(), back.Tensors.Keys.Order());
        foreach (var (name, t) in g.Tensors)
        {
            Assert.Equal(t.Shape, back.Tensors[name].Shape);
            Assert.Equal(t.Data.Select(BitConverter.SingleToInt32Bits), back.Tensors[name].Data.Select(BitConverter.SingleToInt32Bits));
        }
        Assert.Equal(g.Nodes, back.Nodes, (a, b) => a.Op == b.Op && a.Inputs.SequenceEqual(b.Inputs) && a.Output == b.Output && a.Weight == b.Weight
            && a.Bias == b.Bias && a.Activation == b.Activation && a.Stride.SequenceEqual(b.Stride) && a.Padding.SequenceEqual(b.Padding) && a.Groups == b.Groups);
        Assert.Equal(g.Outputs, back.Outputs);
        Assert.Equal("v", back.Metadata["k"]);
        Assert.Equal(g.Spec.ToJson(), back.Spec.ToJson());
        var x = Tensor.Normal(new[] { 1, 3, 20, 20 }, new Rng(1));
        foreach (var kind in new[] { Engine.Inference.ConvKind.Dense, Engine.Inference.ConvKind.Sparse })
        {
            // The same kernel on both sides (a timed choice may differ between two loads). Its variants are timed too, and
            // with bands of live kernel rows (LiveRows) blocks of another size sum in another order: equal to the last bits.
            var ca = new CompactModel(g); ca.ForceKernels(kind);
            var cb = new CompactModel(back); cb.ForceKernels(kind);
            var a = ca.Run(x); var b2 = cb.Run(x);
            foreach (var t in a.Keys)
            {
                float[] u = a[t].ToArray(), v = b2[t].ToArray();
                for (int i = 0; i < u.Length; i++) Assert.True(Math.Abs(u[i] - v[i]) <= 1e-5f * (1 + Math.Abs(u[i])), $"{t}[{i}] {u[i]} vs {v[i]}");
            }
        }
        // Each tensor takes the smallest of the three encodings.
        foreach (var e in table)
        {
            long n = g.Tensors[e.Name].Numel, nnz = e.Nonzeros, rows = e.Shape[0];
            long cols = n / rows;
            long smallest = new[] { 4 * n, (n + 7) / 8 + 4 * nnz, 4 * (rows + 1) + nnz * ((cols <= 65536 ? 2 : 4) + 4) }.Min();
            Assert.Equal(smallest, e.Length);
        }
        if (sparsity >= 0.99) Assert.Contains(table, e => e.Encoding == "csr");
        if (sparsity is > 0.3 and < 0.95) Assert.Contains(table, e => e.Encoding == "bitmask");
        if (sparsity == 0) Assert.All(table, e => Assert.Equal("dense", e.Encoding));
    }

    [Fact]
    public void Fp16StoresHalfValuesAndStaysClose()
    {
        using var dir = new TempDir();
        var g = GraphPasses.Optimize(ModelLowering.Lower(DeployFixtures.Pruned(ModelSpec.ResNetMini(), 0.9)));
        MtlpFile.Write(g, dir.File("a.mtlp")); MtlpFile.Write(g, dir.File("h.mtlp"), fp16: true);
        var back = MtlpFile.Read(dir.File("h.mtlp"));
        foreach (var (name, t) in g.Tensors)
            for (int i = 0; i < t.Data.Length; i++) Assert.Equal((float)(Half)t.Data[i], back.Tensors[name].Data[i]);
        Assert.True(new FileInfo(dir.File("h.mtlp")).Length < 0.75 * new FileInfo(dir.File("a.mtlp")).Length);
        var x = Tensor.Normal(new[] { 1, 3, 16, 16 }, new Rng(2));
        var a = new CompactModel(g).Run(x); var h = new CompactModel(back).Run(x);
        foreach (var t in a.Keys) Assert.True(DeployFixtures.RelativeError(h[t].ToArray(), a[t].ToArray()) < 2e-2);
    }

    [Fact]
    public void AtNinetyPercentTheFileIsAtMostFifteenPercentOfTheDenseModel()
    {
        using var dir = new TempDir();
        var spec = ModelSpec.ResNetMini();
        var model = DeployFixtures.Pruned(spec, 0.9);
        var dense = ModelFactory.Build(spec);
        Checkpoint.Save(dense, dir.File("dense.safetensors"));
        MtlpFile.Write(GraphPasses.Optimize(ModelLowering.Lower(model)), dir.File("m.mtlp"));
        double ratio = (double)new FileInfo(dir.File("m.mtlp")).Length / new FileInfo(dir.File("dense.safetensors")).Length;
        Assert.True(ratio <= 0.15, $"{ratio:P1}");
        Assert.True(ratio > 0.10, $"{ratio:P1}: the values alone take 10 %");
    }

    [Fact]
    public void WritingReplacesTheFileAtomically()
    {
        using var dir = new TempDir();
        var g = GraphPasses.Optimize(ModelLowering.Lower(DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.9)));
        File.WriteAllText(dir.File("m.mtlp"), "old");
        MtlpFile.Write(g, dir.File("m.mtlp"));
        Assert.Single(Directory.GetFiles(dir.Path));
        Assert.NotNull(MtlpFile.Read(dir.File("m.mtlp")));
    }

    [Fact]
    public void MutatedFilesParseOrAreRefusedClearly()
    {
        using var dir = new TempDir();
        var g = GraphPasses.Optimize(ModelLowering.Lower(DeployFixtures.Pruned(DeployFixtures.ResNet(), 0.9)));
        MtlpFile.Write(g, dir.File("m.mtlp"));
        var sample = File.ReadAllBytes(dir.File("m.mtlp"));
        int runs = Environment.GetEnvironmentVariable("MTLPRUNE_FUZZ_LONG") == "1" ? 1_000_000 : 10_000;
        var report = FuzzHarness.Run("mtlp", sample, (bytes, source) => DeployFixtures.RunOnceIfItFits(MtlpFile.Parse(bytes, source)), runs, 11, len => (80L << 20) + 1100L * len);
        Assert.True(report.Failures.Count == 0, report.ToString() + "\n" + string.Join("\n", report.Failures));
        Assert.True(report.Parsed > 0 && report.Rejected > 0, report.ToString());
    }
}
