using MtlPrune.Engine;
using MtlPrune.Tasks;

namespace MtlPrune.Tests;

public class MetricTests
{
    [Fact]
    public void SegmentationConventionsByHand()
    {
        // 3 classes; 4 pixels: labels 0, 0, 1, 2(ignored as 255 in the second batch), predictions via one-hot logits.
        static Tensor Logits(params int[] cls)
        {
            var t = Tensor.Zeros(1, 3, 1, cls.Length);
            for (int j = 0; j < cls.Length; j++) t[0, cls[j], 0, j] = 1f;
            return t;
        }
        foreach (var conv in new[] { MetricConventions.Mtan, MetricConventions.AdaShare })
        {
            var m = new SegmentationMetric(3, 255, conv);
            m.Update(Logits(0, 1, 1, 0), Tensor.FromArray(new float[] { 0, 0, 1, 255 }, 1, 1, 4));
            m.Update(Logits(2, 2), Tensor.FromArray(new float[] { 2, 1 }, 1, 1, 2));
            var r = m.Compute();
            // Confusion (label → pred): 0→0, 0→1, 1→1, 2→2, 1→2. IoU = TP/(row + col − TP): 1/2, 1/3, 1/2.
            Assert.Equal((0.5 + 1.0 / 3 + 0.5) / 3, r["mIoU"], 9);
            // Global: 3 of 5 correct. Per batch: (2/3·1 + 1/2·1) / 2.
            Assert.Equal(conv.PixelAccuracyPerBatch ? (2.0 / 3 + 0.5) / 2 : 3.0 / 5, r["pixAcc"], 9);
        }
        var present = new SegmentationMetric(3, 255, MetricConventions.AdaShare);
        present.Update(Logits(0, 0), Tensor.FromArray(new float[] { 0, 2 }, 1, 1, 2));
        Assert.Equal(0.5, present.Compute()["mIoU"], 9);   // class 2 has TP = 0: left out; class 0 IoU = 1/2
    }

    [Fact]
    public void DepthNormalsL1AndClassificationByHand()
    {
        var d = new DepthMetric();
        d.Update(Tensor.FromArray(new float[] { 1, 3, 5, 9 }, 4), Tensor.FromArray(new float[] { 1, 2, 0, 10 }, 4));
        var dr = d.Compute();
        Assert.Equal((0 + 1 + 1) / 3.0, dr["abs_err"], 9);
        Assert.Equal((0 + 0.5 + 0.1) / 3, dr["rel_err"], 9);
        Assert.Equal(200.0 / 3, dr["delta1"], 9);   // ratios 1, 1.5, 1.111
        Assert.Equal(100.0, dr["delta2"], 9);

        var n = new NormalMetric();
        var pred = Tensor.FromArray(new float[] { 1, 1, 0, 0, 1, 0, 0, 0, 0 }, 1, 3, 1, 3);  // channel-major: pixels (1,0,0), (1,1,0), (0,0,0)
        var gt = Tensor.FromArray(new float[] { 1, 0, 0, 0, 1, 0, 0, 0, 0 }, 1, 3, 1, 3);    // (1,0,0), (0,1,0), missing
        n.Update(pred, gt);
        var nr = n.Compute();
        Assert.Equal(22.5, nr["mean"], 5);            // angles 0 and 45
        Assert.Equal(22.5, nr["median"], 5);
        Assert.Equal(50.0, nr["within11.25"], 9);
        Assert.Equal(50.0, nr["within30"], 9);

        var l1 = new L1Metric(255);
        l1.Update(Tensor.FromArray(new float[] { 0.5f, 1, 7 }, 3), Tensor.FromArray(new float[] { 0, 255, 5 }, 3));
        Assert.Equal(1.25, l1.Compute()["err"], 9);

        var c = new ClassificationMetric(-1);
        c.Update(Tensor.FromArray(new float[] { 0, 1, 1, 0, 3, 2 }, 3, 2), Tensor.FromArray(new float[] { 1, 1, -1 }, 3));
        Assert.Equal(0.5, c.Compute()["accuracy"], 9);
    }

    [Fact]
    public void DeltaTReproducesAdapMtlTable2()
    {
        // methods.md §2.8: Dense vs AdapMTL rows; published ΔT1 1.99, ΔT2 5.25, ΔT3 0.75, ΔT 2.66.
        var info = new Dictionary<string, IReadOnlyList<MetricInfo>>
        {
            ["seg"] = new SegmentationMetric(2, 255, MetricConventions.Default).Metrics,
            ["normal"] = new NormalMetric().Metrics,
            ["depth"] = new DepthMetric().Metrics,
        };
        var dense = new Dictionary<string, Dictionary<string, double>>
        {
            ["seg"] = new() { ["mIoU"] = 19.94, ["pixAcc"] = 48.71 },
            ["normal"] = new() { ["mean"] = 17.85, ["median"] = 16.21, ["within11.25"] = 29.77, ["within22.5"] = 72.19, ["within30"] = 86.19 },
            ["depth"] = new() { ["abs_err"] = 0.64, ["rel_err"] = 0.24, ["delta1"] = 58.93, ["delta2"] = 86.27, ["delta3"] = 96.16 },
        };
        var adap = new Dictionary<string, Dictionary<string, double>>
        {
            ["seg"] = new() { ["mIoU"] = 20.16, ["pixAcc"] = 49.14 },
            ["normal"] = new() { ["mean"] = 17.53, ["median"] = 15.96, ["within11.25"] = 30.16, ["within22.5"] = 72.36, ["within30"] = 86.51 },
            ["depth"] = new() { ["abs_err"] = 0.64, ["rel_err"] = 0.24, ["delta1"] = 59.03, ["delta2"] = 86.57, ["delta3"] = 96.38 },
        };
        var r = DeltaT.Compute(adap, dense, info);
        Assert.Equal(1.99, r.PerTask["seg"], 2);
        Assert.Equal(5.25, r.PerTask["normal"], 2);
        Assert.Equal(0.75, r.PerTask["depth"], 2);
        Assert.Equal(2.66, r.Overall, 2);
        var mean = DeltaT.Compute(adap, dense, info, DeltaTMode.MeanPerTask);
        Assert.Equal(r.PerTask["normal"] / 5, mean.PerTask["normal"], 9);
        Assert.Throws<ArgumentException>(() => DeltaT.Compute(adap, new Dictionary<string, Dictionary<string, double>>(), info));
        var zero = dense.ToDictionary(kv => kv.Key, kv => new Dictionary<string, double>(kv.Value));
        zero["seg"]["mIoU"] = 0;
        Assert.Throws<ArgumentException>(() => DeltaT.Compute(adap, zero, info));
        Assert.Equal((49.14 - 48.71) / 48.71 * 100, DeltaT.Compute(adap, zero, info, skipZeroBaseline: true).PerTask["seg"], 9);
    }
}
