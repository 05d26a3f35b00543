using MtlPrune.Data;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;

namespace MtlPrune.Tests;

/// <summary>A damaged sample in a real data set is named by its index and file; with skipping on, it is logged and replaced.</summary>
public class BadSampleTests
{
    /// <summary>An MTAN-layout NYUv2 of <paramref name="n"/> 4×5 samples per split, with train sample <paramref name="damaged"/>'s depth file cut short.</summary>
    private static void MtanLayout(string root, int n, int damaged)
    {
        foreach (var folder in new[] { "train", "val" })
            for (int i = 0; i < n; i++)
            {
                void Npy(string kind, int[] shape)
                {
                    var path = Path.Combine(root, folder, kind, $"{i}.npy");
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    Engine.IO.Npy.Write(path, Tensor.FromArray(Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(k => (float)(k % 7)).ToArray(), shape));
                }
                Npy("image", new[] { 4, 5, 3 }); Npy("label", new[] { 4, 5 }); Npy("depth", new[] { 4, 5, 1 }); Npy("normal", new[] { 4, 5, 3 });
            }
        var bad = Path.Combine(root, "train", "depth", $"{damaged}.npy");
        File.WriteAllBytes(bad, File.ReadAllBytes(bad)[..60]);
    }

    [Fact]
    public void ADamagedSampleIsNamedByIndexAndFile()
    {
        using var dir = new TempDir();
        MtanLayout(dir.Path, 4, damaged: 2);
        var train = DataSets.Open("nyuv2-mtan", dir.Path, Split.Train, 0, valCount: 1);
        train.Get(1);
        var e = Assert.Throws<BadSampleException>(() => train.Get(2));
        Assert.Equal(2, e.Index);
        Assert.Contains("sample 2", e.Message);
        Assert.Contains(Path.Combine("train", "depth", "2.npy"), e.Message);
        Assert.Contains("--skip-bad-samples", e.Message);

        // Through the loader, in the batch-preparing thread too: the same exception reaches the consumer.
        using var loader = new DataLoader(train, 3, shuffle: false);
        Assert.Throws<BadSampleException>(() => loader.Epoch().ToList());
        Assert.Throws<BadSampleException>(() => loader.Stream().Take(5).ToList());
    }

    [Fact]
    public void SkippingLogsOnceAndUsesTheNextSample()
    {
        using var dir = new TempDir();
        MtanLayout(dir.Path, 4, damaged: 2);
        var logged = new List<string>();
        var old = SampleGuard.Warn;
        try
        {
            SampleGuard.Warn = logged.Add;
            var train = DataSets.Open("nyuv2-mtan", dir.Path, Split.Train, 0, valCount: 1, skipBadSamples: true);
            var a = train.Get(2); var b = train.Get(2);
            Assert.Equal(train.Get(0).Image.ToArray(), a.Image.ToArray());        // sample 2's stand-in: the next readable, wrapping to 0
            Assert.Equal(a.Image.ToArray(), b.Image.ToArray());
            Assert.Single(logged);
            Assert.Contains("sample 2", logged[0]);
            using var loader = new DataLoader(train, 3, shuffle: false);
            Assert.Single(loader.Epoch());
        }
        finally { SampleGuard.Warn = old; }
    }
}
