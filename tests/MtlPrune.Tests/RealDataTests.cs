using MtlPrune.Data;
using MtlPrune.Data.Formats;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;

namespace MtlPrune.Tests;

/// <summary>Each real-data loader on small files written here in exactly the layout users have.</summary>
public class RealDataTests
{
    private static void WritePng(string path, int w, int h, int channels, Func<int, int, int, int> value, int depth = 8)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var s = new ushort[w * h * channels];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) for (int c = 0; c < channels; c++) s[(y * w + x) * channels + c] = (ushort)value(y, x, c);
        File.WriteAllBytes(path, Png.Encode(w, h, channels, s, depth));
    }

    private static void WriteNpy(string path, float[] values, int[] shape, DType dtype = DType.F64, bool fortran = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Npy.Write(path, Tensor.FromArray(values, shape), dtype, fortran);
    }

    [Fact]
    public void NyuMtanLayout()
    {
        using var dir = new TempDir();
        int h = 4, w = 5;
        for (int i = 0; i < 3; i++)
            foreach (var folder in new[] { "train", "val" })
            {
                var root = Path.Combine(dir.Path, folder);
                WriteNpy(Path.Combine(root, "image", $"{i}.npy"), Enumerable.Range(0, h * w * 3).Select(k => (k + i) / 100f).ToArray(), new[] { h, w, 3 });
                WriteNpy(Path.Combine(root, "label", $"{i}.npy"), Enumerable.Range(0, h * w).Select(k => (float)(k % 14 - 1)).ToArray(), new[] { h, w });
                WriteNpy(Path.Combine(root, "depth", $"{i}.npy"), Enumerable.Range(0, h * w).Select(k => k * 0.1f).ToArray(), new[] { h, w, 1 }, DType.F32);
                WriteNpy(Path.Combine(root, "normal", $"{i}.npy"), Enumerable.Range(0, h * w * 3).Select(k => k % 3 == 2 ? 1f : 0f).ToArray(), new[] { h, w, 3 });
            }
        var train = DataSets.Open("nyuv2-mtan", dir.Path, Split.Train, 0, valCount: 1);
        var val = DataSets.Open("nyuv2-mtan", dir.Path, Split.Validation, 0, valCount: 1);
        var test = DataSets.Open("nyuv2-mtan", dir.Path, Split.Test, 0, valCount: 1);
        Assert.Equal((2, 1, 3), (train.Count, val.Count, test.Count));
        var s = train.Get(1);
        Assert.Equal(new[] { 3, h, w }, s.Image.Shape);
        Assert.Equal((1 * w * 3 + 2 * 3 + 1 + 1) / 100f, s.Image[1, 1, 2], 6);     // HWC (1, 2, channel 1) of file 1
        Assert.Equal(-1f, s.Targets["seg"][0, 0]);
        Assert.Equal(new[] { h, w }, s.Targets["seg"].Shape);
        Assert.Equal(1f, s.Targets["normal"][2, 3, 4]);
        Assert.Equal(-1, train.Tasks[0].IgnoreIndex);
        Assert.Equal(13, train.Tasks[0].Channels);
        var e = Assert.Throws<DirectoryNotFoundException>(() => DataSets.Open("nyuv2-mtan", Path.Combine(dir.Path, "train"), Split.Train, 0, 1));
        Assert.Contains("Expected layout", e.Message);
    }

    [Fact]
    public void CityscapesMtanUsesTheChosenLabelFolder()
    {
        using var dir = new TempDir();
        var root = Path.Combine(dir.Path, "val");
        WriteNpy(Path.Combine(root, "image", "0.npy"), new float[2 * 2 * 3], new[] { 2, 2, 3 });
        WriteNpy(Path.Combine(root, "label_7", "0.npy"), new float[] { 6, -1, 0, 3 }, new[] { 2, 2 });
        WriteNpy(Path.Combine(root, "depth", "0.npy"), new float[] { 0.01f, 0, 0.02f, 0.03f }, new[] { 2, 2, 1 });
        var ds = DataSets.Open("cityscapes-mtan", dir.Path, Split.Test, 0, 0, classes: 7);
        Assert.Equal(new[] { "seg", "depth" }, ds.Tasks.Select(t => t.Name));
        Assert.Equal(new float[] { 6, -1, 0, 3 }, ds.Get(0).Targets["seg"].ToArray());
        Assert.Throws<FileNotFoundException>(() => DataSets.Open("cityscapes-mtan", dir.Path, Split.Test, 0, 0, classes: 19).Get(0));
    }

    [Fact]
    public void NyuAdaShareLayout()
    {
        using var dir = new TempDir();
        int h = 3, w = 2;
        WritePng(Path.Combine(dir.Path, "img", "0.png"), w, h, 3, (y, x, c) => c == 0 ? 200 : c == 1 ? 100 : 50);     // RGB
        WritePng(Path.Combine(dir.Path, "seg", "0.png"), w, h, 1, (y, x, c) => y == 0 ? 255 : y * 10 + x);
        WritePng(Path.Combine(dir.Path, "normal_mask", "0.png"), w, h, 3, (y, x, c) => y == 2 ? 255 : c == 2 ? 30 : c == 1 ? 40 : 0);  // RGB (0,40,30); BGR (30,40,0)
        // depth (3, 2) in Fortran order: values d[y, x] = 1 + y + 10·x
        WriteNpy(Path.Combine(dir.Path, "depth", "0.npy"), new float[] { 1, 11, 2, 12, 3, 13 }, new[] { h, w }, DType.F32, fortran: true);
        File.WriteAllText(Path.Combine(dir.Path, "nyu_v2_3task.json"), "{\"train\": [[\"img/0.png\", \"seg/0.png\", \"normal_mask/0.png\", \"depth/0.npy\"]], \"test\": []}");
        var s = DataSets.Open("nyuv2-adashare", dir.Path, Split.Train, 0, 0).Get(0);
        Assert.Equal(50 - 104.00698793f, s.Image[0, 0, 0], 3);            // channel 0 is blue
        Assert.Equal(200 - 122.67891434f, s.Image[2, 1, 1], 3);
        Assert.Equal(255f, s.Targets["seg"][0, 1]);
        Assert.Equal(21f, s.Targets["seg"][2, 1]);
        Assert.Equal(0.6f, s.Targets["normal"][0, 0, 0], 5);               // BGR (30, 40, 0) / 50
        Assert.Equal(0.8f, s.Targets["normal"][1, 0, 0], 5);
        Assert.Equal(0f, s.Targets["normal"][0, 2, 1]);                     // (255, 255, 255) = invalid
        Assert.Equal(13f, s.Targets["depth"][0, 2, 1]);
        Assert.Equal(2f, s.Targets["depth"][0, 1, 0]);
        File.WriteAllText(Path.Combine(dir.Path, "nyu_v2_3task.json"), "{\"train\": [[\"img/0.png\", \"seg/0.png\"]]}");
        var e = Assert.Throws<ModelFormatException>(() => DataSets.Open("nyuv2-adashare", dir.Path, Split.Train, 0, 0));
        Assert.Contains("expected 4", e.Message);
    }

    [Fact]
    public void CityscapesAdaShareLayout()
    {
        using var dir = new TempDir();
        WriteNpy(Path.Combine(dir.Path, "img.npy"), new float[] { 1, 0.5f, 0, 0, 0, 0 }, new[] { 1, 2, 3 });   // pixel 0 RGB (1, .5, 0)
        WriteNpy(Path.Combine(dir.Path, "depth.npy"), new float[] { 0.1f, 0.2f }, new[] { 1, 2, 1 });
        foreach (var k in new[] { 2, 7, 19 }) WriteNpy(Path.Combine(dir.Path, $"l{k}.npy"), new float[] { k - 1, -1 }, new[] { 1, 2 });
        File.WriteAllText(Path.Combine(dir.Path, "cityscape.json"), "{\"test\": [[\"img.npy\", \"depth.npy\", \"l2.npy\", \"l7.npy\", \"l19.npy\"]]}");
        var s = DataSets.Open("cityscapes-adashare", dir.Path, Split.Test, 0, 0, classes: 7).Get(0);
        Assert.Equal(0 - 104.00698793f, s.Image[0, 0, 0], 3);
        Assert.Equal(255 - 122.67891434f, s.Image[2, 0, 0], 3);
        Assert.Equal(new float[] { 6, -1 }, s.Targets["seg"].ToArray());
    }

    [Fact]
    public void TaskonomyDecoding()
    {
        using var dir = new TempDir();
        int n = 4;
        WritePng(Path.Combine(dir.Path, "rgb", "a.png"), n, n, 3, (y, x, c) => 100);
        WritePng(Path.Combine(dir.Path, "seg", "a.png"), n, n, 1, (y, x, c) => x);                       // 0 = unlabelled
        WritePng(Path.Combine(dir.Path, "normal", "a.png"), n, n, 3, (y, x, c) => c == 0 ? 255 : 0);
        WritePng(Path.Combine(dir.Path, "depth", "a.png"), n, n, 1, (y, x, c) => y == 3 ? 65000 : 65535 / 4, 16);
        WritePng(Path.Combine(dir.Path, "kp", "a.png"), n, n, 1, (y, x, c) => 163, 16);                   // 163/2^16 ≈ 0.0025, inside the 0.005 clip
        WritePng(Path.Combine(dir.Path, "edge", "a.png"), n, n, 1, (y, x, c) => 65535, 16);               // clipped to 0.08 → 1
        File.WriteAllText(Path.Combine(dir.Path, "taskonomy.json"), "{\"train\": [[\"rgb/a.png\", \"seg/a.png\", \"normal/a.png\", \"depth/a.png\", \"kp/a.png\", \"edge/a.png\"]]}");
        WriteNpy(Path.Combine(dir.Path, "semseg_prior_factor.npy"), Enumerable.Range(1, 17).Select(v => (float)v).ToArray(), new[] { 17 });
        var ds = DataSets.Open("taskonomy", dir.Path, Split.Train, 0, 0, size: 8);
        Assert.Equal(17, ds.Tasks[0].ClassWeights!.Length);
        var s = ds.Get(0);
        Assert.Equal(new[] { 3, 8, 8 }, s.Image.Shape);                                                   // resized 4 → 8 (nearest)
        Assert.Equal(255f, s.Targets["seg"][0, 0]);
        Assert.Equal(2f, s.Targets["seg"][0, 6]);                                                         // raw 3 → class 2
        Assert.Equal((float)(Math.Log(1 + 65535 / 4) / Math.Log(65536)), s.Targets["depth"][0, 0, 0], 5);
        Assert.Equal(0f, s.Targets["depth"][0, 7, 0]);                                                    // d ≥ 64500: invalid
        Assert.Equal(1f, s.Targets["normal"][0, 0, 0], 5);
        Assert.Equal(-1f, s.Targets["normal"][1, 0, 0], 5);
        Assert.Equal(0f, s.Targets["normal"][0, 7, 0]);                                                   // invalid with depth
        Assert.Equal(163f / 65536 / 0.005f * 2 - 1, s.Targets["keypoints"][0, 0, 0], 5);
        Assert.Equal(1f, s.Targets["edges"][0, 0, 0], 5);
    }

    [Fact]
    public void MultiMnistFromNpmJson()
    {
        using var dir = new TempDir();
        var rng = new Rng(1);
        for (int label = 0; label < 10; label++)
        {
            var values = Enumerable.Range(0, 10 * 784).Select(_ => Math.Round(rng.NextDouble(), 3)).ToArray();
            File.WriteAllText(Path.Combine(dir.Path, $"{label}.json"), "{ \"data\": [" + string.Join(",", values.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "] }");
        }
        var a = DataSets.Open("multi-mnist", dir.Path, Split.Train, 20, 0, seed: 3);
        var b = DataSets.Open("multi-mnist", dir.Path, Split.Train, 20, 0, seed: 3);
        Assert.Equal(20, a.Count);
        var s = a.Get(5);
        Assert.Equal(new[] { 3, 28, 28 }, s.Image.Shape);
        Assert.All(s.Image.ToArray(), v => Assert.InRange(v, -1.0001f, 1.0001f));
        Assert.InRange(s.Targets["left"].Item(), 0, 9);
        Assert.Equal(s.Image.ToArray(), b.Get(5).Image.ToArray());
        Assert.Equal(s.Targets["right"].Item(), b.Get(5).Targets["right"].Item());
        File.Delete(Path.Combine(dir.Path, "7.json"));
        var e = Assert.Throws<FileNotFoundException>(() => DataSets.Open("multi-mnist", dir.Path, Split.Test, 5, 0));
        Assert.Contains("7.json", e.Message);
    }
}
