using MtlPrune.Deploy;
using MtlPrune.Tasks;

namespace MtlPrune.Tests.Deploy;

public class PreprocessingAndImagesTests
{
    [Fact]
    public void EachDataSetsPreparationIsRecordedAndReadBack()
    {
        foreach (var data in new[] { "scenes", "nyuv2-adashare", "multi-mnist", "nyuv2-mtan", "unknown" })
        {
            var p = InputPreprocessing.ForDataset(data);
            var meta = new Dictionary<string, string>();
            p.WriteTo(meta);
            var back = InputPreprocessing.ReadFrom(meta);
            Assert.Equal((p.Order, p.Scale, p.Gray), (back.Order, back.Scale, back.Gray));
            Assert.Equal(p.Mean, back.Mean); Assert.Equal(p.Std, back.Std);
        }
        Assert.Equal(InputPreprocessing.Unit, InputPreprocessing.ReadFrom(new Dictionary<string, string>()));
        Assert.Throws<FormatException>(() => InputPreprocessing.ReadFrom(new Dictionary<string, string> { ["input.preprocessing"] = "rgb;1;0,0;1,1,1;color" }));
        Assert.Throws<FormatException>(() => InputPreprocessing.ReadFrom(new Dictionary<string, string> { ["input.preprocessing"] = "rgb;1;0,0,0;0,1,1;color" }));
    }

    [Fact]
    public void PixelsArePreparedAsTheLoadersPrepareThem()
    {
        ushort[] px = { 255, 0, 51 };                 // one RGB pixel
        // Scenes: (rgb − 0.5) / 0.25.
        Assert.Equal(new[] { 2f, -2f, -1.2f }, InputPreprocessing.ForDataset("scenes").Apply(px, 3, 1, 1, 3), new ToleranceComparer(1e-5f));
        // AdaShare NYUv2: BGR·255 minus the Caffe mean.
        Assert.Equal(new[] { 51 - 104.00699f, 0 - 116.66877f, 255 - 122.67891f }, InputPreprocessing.ForDataset("nyuv2-adashare").Apply(px, 3, 1, 1, 3), new ToleranceComparer(1e-3f));
        // Multi-MNIST: gray (mean of RGB) → (v − 0.5) / 0.5 in every channel.
        float gray = (1f + 0f + 0.2f) / 3;
        Assert.Equal(new[] { gray * 2 - 1, gray * 2 - 1, gray * 2 - 1 }, InputPreprocessing.ForDataset("multi-mnist").Apply(px, 3, 1, 1, 3), new ToleranceComparer(1e-5f));
        // 16-bit gray PNG samples scale by their own maximum.
        Assert.Equal(new[] { 1f, 1f, 1f }, InputPreprocessing.Unit.Apply(new ushort[] { 65535 }, 1, 1, 1, 3, 65535));
    }

    [Fact]
    public void OutputsBecomeImages()
    {
        Assert.Equal(((ushort)0, (ushort)0, (ushort)0), OutputImages.Palette(0));
        Assert.Equal(((ushort)128, (ushort)0, (ushort)0), OutputImages.Palette(1));
        Assert.Equal(((ushort)0, (ushort)128, (ushort)0), OutputImages.Palette(2));
        Assert.Equal(((ushort)192, (ushort)128, (ushort)128), OutputImages.Palette(15));      // PASCAL VOC's "person"
        Assert.Equal(40, Enumerable.Range(0, 40).Select(OutputImages.Palette).Distinct().Count());
        // Segmentation: the argmax class's colour.
        var seg = OutputImages.Render(TaskKind.Segmentation, new float[] { 0, 5, 1, 2 }, 2, 1, 2);   // pixel 0 → class 1, pixel 1 → class 0
        Assert.Equal(new ushort[] { 128, 0, 0, 0, 0, 0 }, seg);
        // Normals: (n / |n| + 1) / 2.
        var n = OutputImages.Render(TaskKind.Normals, new float[] { 0, 0, 2 }, 3, 1, 1);
        Assert.Equal(new ushort[] { 128, 128, 255 }, n);
        // Depth: near is bright (the map's top), far is dark.
        var d = OutputImages.Render(TaskKind.Depth, Enumerable.Range(0, 100).Select(i => (float)i).ToArray(), 1, 10, 10);
        Assert.Equal(OutputImages.ColorMap(1), (d[0], d[1], d[2]));
        Assert.Equal(OutputImages.ColorMap(0), (d[297], d[298], d[299]));
        Assert.True(OutputImages.ColorMap(1).G > OutputImages.ColorMap(0).G);
    }

    private sealed class ToleranceComparer(float tol) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(float v) => 0;
    }
}
