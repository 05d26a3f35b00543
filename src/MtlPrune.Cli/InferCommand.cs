using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MtlPrune.Data.Formats;
using MtlPrune.Deploy;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Tasks;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune infer</c>: run a compact model on PNG images and write what each task sees.</summary>
internal static class InferCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "A compact model (.mtlp) from `mtlprune export --format mtlp`.", Required = true };
        var images = new Option<string>("--image") { Description = "A PNG image, or a directory of PNG images.", Required = true };
        var output = new Option<string>("--out") { Description = "Directory for the outputs: <image>.<task>.png per dense task (segmentation as a palette, depth as a colour map, normals as RGB), <image>.json with classification scores.", Required = true };
        var size = new Option<string?>("--size") { Description = "Resize each image to HxW before inference (default: its own size)." };
        var cmd = new Command("infer", "Run a compact model on images and write each task's output as an image.") { model, images, output, size };
        cmd.SetAction(p =>
        {
            var mp = p.GetValue(model)!;
            var cm = CompactModel.Load(mp);
            var g = cm.Graph;
            InputPreprocessing prep;
            try { prep = InputPreprocessing.ReadFrom(g.Metadata); }
            catch (FormatException e) { throw new ModelFormatException(mp, e.Message); }
            var src = p.GetValue(images)!;
            var files = Directory.Exists(src) ? Directory.GetFiles(src, "*.png").Order(StringComparer.Ordinal).ToArray()
                : File.Exists(src) ? new[] { src } : throw new FileNotFoundException($"--image: '{src}' does not exist.", src);
            if (files.Length == 0) throw new ArgumentException($"--image: the directory '{src}' holds no .png files.");
            var resize = p.GetValue(size) is string s ? CliParsing.Size(s, "--size") : ((int, int)?)null;
            var dir = p.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var kinds = g.Spec.Tasks.ToDictionary(t => t.Name, t => t.Kind);
            var ci = CultureInfo.InvariantCulture;
            foreach (var f in files)
            {
                var png = Png.Read(f);
                var x = prep.Apply(png.Samples, png.Channels, png.Height, png.Width, g.InputChannels, (1 << png.BitDepth) - 1);
                var input = Tensor.FromArray(x, 1, g.InputChannels, png.Height, png.Width);
                if (resize is { } r && (r.Item1 != png.Height || r.Item2 != png.Width)) input = Tensor.Interpolate(input, r.Item1, r.Item2, ResizeMode.Bilinear);
                var sw = Stopwatch.StartNew();
                var outs = cm.Run(input);
                double ms = sw.Elapsed.TotalMilliseconds;
                string stem = Path.Combine(dir, Path.GetFileNameWithoutExtension(f));
                var written = new List<string>();
                var scores = new Dictionary<string, object>();
                foreach (var (task, y) in outs)
                {
                    var kind = kinds.GetValueOrDefault(task, TaskKind.Depth);
                    if (y.Rank == 2)
                    {
                        var logits = y.ToArray();
                        var probs = Softmax(logits);
                        int best = Array.IndexOf(probs, probs.Max());
                        scores[task] = new { predicted = best, probabilities = probs };
                        written.Add($"{task}: class {best} ({probs[best]:P1})");
                        continue;
                    }
                    int c = y.Shape[1], h = y.Shape[2], w = y.Shape[3];
                    var rgb = OutputImages.Render(kind, y.Span, c, h, w);
                    AtomicFile.WriteAllBytes($"{stem}.{task}.png", Png.Encode(w, h, 3, rgb));
                    written.Add($"{Path.GetFileName(stem)}.{task}.png");
                }
                if (scores.Count > 0)
                {
                    AtomicFile.WriteAllText(stem + ".json", JsonSerializer.Serialize(scores, new JsonSerializerOptions { WriteIndented = true }));
                    written.Add(Path.GetFileName(stem) + ".json");
                }
                ConsoleUi.Line(Markup.Escape(string.Create(ci, $"{f} ({input.Shape[2]}×{input.Shape[3]}, {ms:F1} ms): {string.Join(", ", written)}")));
            }
            return 0;
        });
        return cmd;
    }

    private static float[] Softmax(float[] z)
    {
        float m = z.Max();
        var e = z.Select(v => MathF.Exp(v - m)).ToArray();
        float s = e.Sum();
        return e.Select(v => v / s).ToArray();
    }
}
