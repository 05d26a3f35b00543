using MtlPrune.Engine.IO.Torch;
using MtlPrune.Interop;
using MtlPrune.Tests.Interop;
using Xunit.Abstractions;

namespace MtlPrune.Tests.Fuzz;

/// <summary>
/// The PyTorch reader under mutation: the whole file (zip layer), and the pickle re-packed with a valid CRC so that
/// mutations reach the pickle reader and tensor rebuilding instead of stopping at the CRC check. Set MTLPRUNE_FUZZ_LONG=1
/// for 1,000,000 inputs per target.
/// </summary>
public class TorchFuzzTests(ITestOutputHelper output)
{
    private static int Runs(int ci) => Environment.GetEnvironmentVariable("MTLPRUNE_FUZZ_LONG") == "1" ? 1_000_000 : ci;

    /// <summary>Opens the archive and materialises every tensor of a state dict (the work an import does).</summary>
    private static void ReadAll(byte[] bytes, string source)
    {
        using var a = TorchArchive.Open(new MemoryStream(bytes), source);
        if (a.Root is PyDict d)
            foreach (var (k, v) in d.Items)
                if (k is string name && v is TorchTensor t) a.Materialize(t, name);
    }

    private void Check(FuzzReport r)
    {
        output.WriteLine(r.ToString());
        Assert.True(r.Failures.Count == 0, string.Join("\n", r.Failures));
        Assert.True(r.Rejected > 0 && r.Runs >= 10_000);
    }

    [Fact]
    public void WholeFilesNeverCrashHangOrOverAllocate()
    {
        var sample = File.ReadAllBytes(TorchFixtureTests.Fixture("dtypes.pth"));
        // Bound: the file's members read once (pickle + storages ≤ the file), floats of at most 4 per byte, and bookkeeping.
        Check(FuzzHarness.Run("torch.save zip (dtypes.pth)", sample, ReadAll, Runs(10_000), 1, n => 64L * n + (4 << 20)));
    }

    [Fact]
    public void PicklesNeverCrashHangOrOverAllocate()
    {
        using var zip = ZipReader.Open(TorchFixtureTests.Fixture("scenenet_tiny.pth"));
        var pickle = zip.Read(zip.Entries.Single(e => e.Name.EndsWith("/data.pkl")));
        var storages = zip.Entries.Where(e => e.Name.Contains("/data/")).Select(e => (e.Name[(e.Name.LastIndexOf('/') + 1)..], zip.Read(e))).ToArray();
        Check(FuzzHarness.Run("pickle of scenenet_tiny.pth, re-packed", pickle,
            (p, source) => ReadAll(TorchZip.Torch(p, storages), source), Runs(10_000), 2, n => 64L * n + (8 << 20)));
    }

    [Fact]
    public void ImportOfMutatedFilesGivesClearErrors()
    {
        using var dir = new TempDir();
        var sample = File.ReadAllBytes(TorchFixtureTests.Fixture("scenenet_tiny.pth"));
        var path = dir.File("m.pth");
        var tasks = TaskRequest.ParseList("seg,normal,depth");
        var r = FuzzHarness.Run("mtlprune import of scenenet_tiny.pth", sample, (b, source) =>
        {
            File.WriteAllBytes(path, b);
            try { PyTorchImport.Import(path, "auto", tasks); }
            catch (ArgumentException e) { throw new MtlPrune.Engine.IO.ModelFormatException(path, e.Message); }   // layout mismatches are clear errors too
        }, Environment.GetEnvironmentVariable("MTLPRUNE_FUZZ_LONG") == "1" ? 100_000 : 1_000, 3, n => 64L * n + (16 << 20), source: path);
        output.WriteLine(r.ToString());
        Assert.True(r.Failures.Count == 0, string.Join("\n", r.Failures));
    }
}
