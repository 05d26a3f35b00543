using MtlPrune.Data;
using MtlPrune.Data.Scenes;
using MtlPrune.Engine;
using MtlPrune.Tasks;

namespace MtlPrune.Tests;

public class DataTests
{
    private static readonly string[] All = { "seg", "depth", "normal", "edges", "keypoints" };

    [Fact]
    public void ScenesAreDeterministicAndSplitsDiffer()
    {
        var a = new ScenesDataset(Split.Train, 3, 24, 32, seed: 5, tasks: All).Get(2);
        var b = new ScenesDataset(Split.Train, 3, 24, 32, seed: 5, tasks: All).Get(2);
        Assert.Equal(a.Image.ToArray(), b.Image.ToArray());
        foreach (var t in All) Assert.Equal(a.Targets[t].ToArray(), b.Targets[t].ToArray());
        var val = new ScenesDataset(Split.Validation, 3, 24, 32, seed: 5, tasks: All).Get(2);
        Assert.NotEqual(a.Image.ToArray(), val.Image.ToArray());
        var other = new ScenesDataset(Split.Train, 3, 24, 32, seed: 6, tasks: All).Get(2);
        Assert.NotEqual(a.Image.ToArray(), other.Image.ToArray());
    }

    [Fact]
    public void SceneTargetsAreConsistent()
    {
        var ds = new ScenesDataset(Split.Train, 6, 32, 32, seed: 1, tasks: All);
        var classes = new HashSet<int>();
        for (int i = 0; i < ds.Count; i++)
        {
            var s = ds.Get(i);
            Assert.Equal(new[] { 3, 32, 32 }, s.Image.Shape);
            Assert.Equal(new[] { 32, 32 }, s.Targets["seg"].Shape);
            var seg = s.Targets["seg"].ToArray(); var depth = s.Targets["depth"].ToArray(); var n = s.Targets["normal"].ToArray();
            for (int j = 0; j < 32 * 32; j++)
            {
                Assert.InRange(seg[j], 0, SceneClasses.Count - 1);
                classes.Add((int)seg[j]);
                Assert.InRange(depth[j], 0.05f, 20f);
                double len = Math.Sqrt(n[j] * n[j] + n[1024 + j] * n[1024 + j] + n[2048 + j] * n[2048 + j]);
                Assert.InRange(len, 0.999, 1.001);
                // Visible surfaces face the ray (n·d ≤ 0); at the central pixels the ray is the forward axis to within 0.05.
                if (j / 32 is 15 or 16 && j % 32 is 15 or 16) Assert.True(n[2048 + j] <= 0.05f, "normals face the camera (z forward)");
                if (seg[j] == SceneClasses.Floor) Assert.True(n[1024 + j] > 0.3f, "floor normals point up in the camera frame");
            }
            Assert.All(s.Targets["edges"].ToArray(), v => Assert.InRange(v, 0f, 1f));
            Assert.All(s.Targets["keypoints"].ToArray(), v => Assert.InRange(v, 0f, 1f));
        }
        Assert.Contains(SceneClasses.Floor, classes);
        Assert.Contains(SceneClasses.Wall, classes);
        Assert.True(classes.Count >= 5, $"only classes {string.Join(",", classes)} in 6 scenes");
    }

    [Fact]
    public void LoaderIsSeededAndPrefetchGivesTheSameBatches()
    {
        var ds = new ScenesDataset(Split.Train, 10, 16, 16, seed: 2);
        var aug = new Augmentation(1.0, 1.3, 16, 16);
        using var a = new DataLoader(ds, 4, shuffle: true, seed: 3, augmentation: aug, dropLast: true);
        using var b = new DataLoader(ds, 4, shuffle: true, seed: 3, augmentation: aug, dropLast: true);
        var streamed = a.Stream().Take(5).ToList();
        for (int step = 0; step < 5; step++)
        {
            var direct = b.MakeBatch(step / 2, step % 2);
            Assert.Equal(direct.Images.ToArray(), streamed[step].Images.ToArray());
            Assert.Equal(direct.Targets["seg"].ToArray(), streamed[step].Targets["seg"].ToArray());
        }
        Assert.NotEqual(a.Order(0), a.Order(1));
        Assert.Equal(Enumerable.Range(0, 10), a.Order(0).OrderBy(i => i));
        Assert.Equal(new[] { 4, 3, 16, 16 }, streamed[0].Images.Shape);
        Assert.Equal(new[] { 4, 3, 16, 16 }, streamed[0].Targets["normal"].Shape);
    }

    [Fact]
    public void FlipNegatesNormalXAndCropPadsWithIgnore()
    {
        var tasks = new[] { new TaskSpec("seg", TaskKind.Segmentation, 3), new TaskSpec("normal", TaskKind.Normals, 3), new TaskSpec("depth", TaskKind.Depth, 1) };
        var img = Tensor.FromArray(Enumerable.Range(0, 3 * 2 * 3).Select(i => (float)i).ToArray(), 3, 2, 3);
        var seg = Tensor.FromArray(new float[] { 0, 1, 2, 2, 1, 0 }, 2, 3);
        var normal = Tensor.FromArray(Enumerable.Repeat(0.5f, 18).ToArray(), 3, 2, 3);
        var depth = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 1, 2, 3);
        var s = new Sample(img, new Dictionary<string, Tensor> { ["seg"] = seg, ["normal"] = normal, ["depth"] = depth });
        // Find a seed whose coin flips the image, then check the flip.
        Sample? flipped = null;
        for (ulong k = 0; k < 20 && flipped is null; k++)
        {
            var r = new Augmentation(Flip: true).Apply(s, tasks, new Rng(k));
            if (r.Targets["seg"][0, 0] == 2) flipped = r;
        }
        Assert.NotNull(flipped);
        Assert.Equal(new float[] { 2, 1, 0, 0, 1, 2 }, flipped!.Targets["seg"].ToArray());
        Assert.Equal(-0.5f, flipped.Targets["normal"][0, 0, 0]);
        Assert.Equal(0.5f, flipped.Targets["normal"][1, 0, 0]);
        Assert.Equal(3f, flipped.Targets["depth"][0, 0, 0]);
        var padded = new Augmentation(CropH: 4, CropW: 5, Flip: false).Apply(s, tasks, new Rng(1));
        Assert.Equal(new[] { 4, 5 }, padded.Targets["seg"].Shape);
        Assert.Equal(255f, padded.Targets["seg"][0, 0]);
        Assert.Equal(0f, padded.Targets["depth"][0, 0, 0]);
        Assert.Equal(1f, padded.Targets["depth"][0, 1, 1]);
    }
}
