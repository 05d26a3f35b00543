using MtlPrune.Engine;

namespace MtlPrune.Engine.Tests;

/// <summary>Every differentiable op against central finite differences, on ordinary and odd shapes.</summary>
public class OpGradientTests
{
    private static Rng R(ulong s = 7) => new(s);

    [Theory]
    [InlineData(new[] { 2, 3, 4, 5 }, new[] { 2, 3, 4, 5 })]
    [InlineData(new[] { 2, 3, 4, 5 }, new[] { 1, 3, 1, 1 })]
    [InlineData(new[] { 2, 3, 4, 5 }, new[] { 3, 1, 1 })]
    [InlineData(new[] { 2, 3, 4, 5 }, new int[0])]
    [InlineData(new[] { 2, 3, 4, 5 }, new[] { 5 })]
    [InlineData(new[] { 2, 1, 4, 1 }, new[] { 1, 3, 1, 5 })]
    [InlineData(new[] { 17 }, new[] { 3, 1 })]
    public void BroadcastArithmetic(int[] sa, int[] sb)
    {
        var rng = R();
        var a = GradCheck.Randn(rng, sa);
        var b = GradCheck.Randn(rng, sb);
        GradCheck.Check(x => x[0] + x[1], new[] { a, b }, label: "add");
        GradCheck.Check(x => x[0] - x[1], new[] { a, b }, label: "sub");
        GradCheck.Check(x => x[0] * x[1], new[] { a, b }, label: "mul");
        var d = Tensor.FromArray(Tensor.Uniform(sb, rng, 0.5f, 1.5f).ToArray().Select((v, i) => i % 2 == 0 ? v : -v).ToArray(), sb).RequiresGrad_();
        GradCheck.Check(x => x[0] / x[1], new[] { a, d }, label: "div");
    }

    [Fact]
    public void ScalarArithmetic()
    {
        var a = GradCheck.Randn(R(), 3, 4);
        GradCheck.Check(x => x[0] * 2.5f + 1f, new[] { a });
        GradCheck.Check(x => -(x[0] / 4f) - 2f, new[] { a });
    }

    [Fact]
    public void MatMulAndLinear()
    {
        var rng = R();
        GradCheck.Check(x => Tensor.MatMul(x[0], x[1]), new[] { GradCheck.Randn(rng, 3, 5), GradCheck.Randn(rng, 5, 4) }, label: "matmul");
        GradCheck.Check(x => Tensor.MatMul(x[0], x[1]), new[] { GradCheck.Randn(rng, 2, 3, 5), GradCheck.Randn(rng, 2, 5, 7) }, label: "bmm");
        GradCheck.Check(x => Tensor.MatMul(x[0], x[1]), new[] { GradCheck.Randn(rng, 13, 37), GradCheck.Randn(rng, 37, 35) }, label: "matmul-odd");
        GradCheck.Check(x => Tensor.Linear(x[0], x[1], x[2]), new[] { GradCheck.Randn(rng, 4, 6), GradCheck.Randn(rng, 3, 6), GradCheck.Randn(rng, 3) }, label: "linear");
        GradCheck.Check(x => Tensor.Linear(x[0], x[1], null), new[] { GradCheck.Randn(rng, 1, 17), GradCheck.Randn(rng, 19, 17) }, label: "linear-nobias");
    }

    public static TheoryData<int[], int[], int, int, int, int, bool> ConvCases => new()
    {
        // x shape, w shape, stride, padding, dilation, groups, bias
        { new[] { 2, 3, 7, 6 }, new[] { 5, 3, 3, 3 }, 1, 1, 1, 1, true },
        { new[] { 2, 3, 7, 6 }, new[] { 4, 3, 3, 3 }, 2, 0, 1, 1, false },
        { new[] { 1, 2, 8, 9 }, new[] { 3, 2, 2, 2 }, 3, 0, 1, 1, true },      // stride larger than kernel
        { new[] { 1, 2, 5, 5 }, new[] { 3, 2, 3, 3 }, 1, 2, 1, 1, true },      // padding larger than half the kernel
        { new[] { 1, 2, 4, 4 }, new[] { 3, 2, 3, 3 }, 1, 3, 1, 1, false },     // padding larger than the kernel (col2im path)
        { new[] { 1, 3, 9, 9 }, new[] { 2, 3, 3, 3 }, 1, 2, 2, 1, true },      // dilation
        { new[] { 2, 4, 5, 5 }, new[] { 6, 2, 3, 3 }, 1, 1, 1, 2, true },      // groups
        { new[] { 2, 5, 6, 6 }, new[] { 5, 1, 3, 3 }, 2, 1, 1, 5, false },     // depthwise, stride 2
        { new[] { 2, 3, 7, 6 }, new[] { 6, 1, 3, 3 }, 1, 2, 2, 3, true },      // depthwise, multiplier 2, dilation 2
        { new[] { 2, 3, 1, 1 }, new[] { 4, 3, 1, 1 }, 1, 0, 1, 1, true },      // 1x1 image
        { new[] { 2, 3, 1, 1 }, new[] { 4, 3, 3, 3 }, 1, 1, 1, 1, true },      // 1x1 image, 3x3 kernel
        { new[] { 1, 17, 3, 5 }, new[] { 19, 17, 1, 1 }, 1, 0, 1, 1, true },   // channels not multiples of 16, 1x1 path
        { new[] { 1, 17, 5, 5 }, new[] { 19, 17, 1, 1 }, 2, 0, 1, 1, false },  // strided 1x1
        { new[] { 5, 3, 6, 7 }, new[] { 4, 3, 3, 3 }, 2, 1, 1, 1, true },      // batch split into uneven chunks, stride 2
        { new[] { 3, 2, 9, 8 }, new[] { 2, 2, 3, 3 }, 3, 2, 2, 1, false },     // stride 3 with dilation 2 (phase images)
    };

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2d(int[] xs, int[] ws, int stride, int pad, int dil, int groups, bool bias)
    {
        var rng = R();
        var inputs = new List<Tensor> { GradCheck.Randn(rng, xs), GradCheck.Randn(rng, ws) };
        if (bias) inputs.Add(GradCheck.Randn(rng, ws[0]));
        GradCheck.Check(x => Tensor.Conv2d(x[0], x[1], bias ? x[2] : null, (stride, stride), (pad, pad), (dil, dil), groups),
            inputs.ToArray(), maxPerInput: 60, label: $"conv {Tensor.ShapeString(xs)} {Tensor.ShapeString(ws)} s{stride} p{pad} d{dil} g{groups}");
    }

    [Theory]
    [InlineData(true, 3)]
    [InlineData(false, 3)]
    [InlineData(true, 17)]
    public void BatchNorm(bool training, int c)
    {
        var rng = R();
        var x = GradCheck.Randn(rng, 3, c, 4, 3);
        var w = Tensor.Uniform(new[] { c }, rng, 0.5f, 1.5f).RequiresGrad_();
        var b = GradCheck.Randn(rng, c);
        var rm = Tensor.Normal(new[] { c }, rng); var rv = Tensor.Uniform(new[] { c }, rng, 0.5f, 2f);
        GradCheck.Check(t => Tensor.BatchNorm(t[0], t[1], t[2], rm.CloneData(), rv.CloneData(), training), new[] { x, w, b }, maxPerInput: 60);
    }

    /// <summary>The fused residual end: gradient against finite differences, and bit-identical values and gradients
    /// to Add then Relu (the vector body and the scalar tail: 3·37 elements; and a broadcast pair, which falls back).</summary>
    [Fact]
    public void AddReluIsAddThenReluBitForBit()
    {
        var rng = R();
        GradCheck.Check(t => Tensor.AddRelu(t[0], t[1]), new[] { GradCheck.Spread(rng, 3, 37), GradCheck.Spread(rng, 3, 37) }, label: "addrelu");
        foreach (var (sa, sb) in new[] { (new[] { 3, 37 }, new[] { 3, 37 }), (new[] { 2, 3, 37 }, new[] { 37 }) })
        {
            var a = Tensor.Normal(sa, rng).RequiresGrad_(); var b = Tensor.Normal(sb, rng).RequiresGrad_();
            var a2 = a.CloneData().RequiresGrad_(); var b2 = b.CloneData().RequiresGrad_();
            var g = Tensor.Normal(Tensor.AddRelu(a, b).Shape, rng);
            var fused = Tensor.AddRelu(a, b); fused.Backward(g);
            var plain = Tensor.Add(a2, b2).Relu(); plain.Backward(g);
            Assert.Equal(plain.ToArray(), fused.ToArray());
            Assert.Equal(a2.Grad!.ToArray(), a.Grad!.ToArray());
            Assert.Equal(b2.Grad!.ToArray(), b.Grad!.ToArray());
        }
    }

    [Fact]
    public void UnaryOps()
    {
        var rng = R();
        GradCheck.Check(x => x[0].Relu(), new[] { GradCheck.Spread(rng, 3, 17) }, label: "relu");
        GradCheck.Check(x => (x[0] * 100f).Relu6(), new[] { GradCheck.Spread(rng, 3, 17) }, atol: 0.3, rtol: 2e-2, label: "relu6");
        GradCheck.Check(x => x[0].Clamp(-0.3f, 0.4f), new[] { GradCheck.Spread(rng, 4, 9) }, label: "clamp");
        GradCheck.Check(x => x[0].Abs(), new[] { GradCheck.Spread(rng, 2, 3, 5) }, label: "abs");
        GradCheck.Check(x => x[0].Sign() * 3f, new[] { GradCheck.Spread(rng, 2, 3, 5) }, label: "sign");
        GradCheck.Check(x => x[0].Sigmoid(), new[] { GradCheck.Randn(rng, 2, 3, 5) }, label: "sigmoid");
        GradCheck.Check(x => x[0].Exp(), new[] { GradCheck.Randn(rng, 2, 3, 5) }, label: "exp");
        GradCheck.Check(x => x[0].Log(), new[] { Tensor.Uniform(new[] { 2, 7 }, rng, 0.5f, 3f).RequiresGrad_() }, label: "log");
        GradCheck.Check(x => x[0].Sqrt(), new[] { Tensor.Uniform(new[] { 2, 7 }, rng, 0.5f, 3f).RequiresGrad_() }, label: "sqrt");
        GradCheck.Check(x => x[0].Square(), new[] { GradCheck.Randn(rng, 2, 7) }, label: "square");
    }

    [Fact]
    public void Reductions()
    {
        var rng = R();
        var x = GradCheck.Randn(rng, 2, 3, 4, 5);
        GradCheck.Check(t => t[0].Sum(), new[] { x });
        GradCheck.Check(t => t[0].Mean(), new[] { x });
        GradCheck.Check(t => t[0].Sum(new[] { 1 }), new[] { x });
        GradCheck.Check(t => t[0].Sum(new[] { 0, 2, 3 }, keepDim: true), new[] { x });
        GradCheck.Check(t => t[0].Mean(new[] { -1, 1 }), new[] { x });
    }

    [Theory]
    [InlineData(7, 6, 3, 2, 1, true, 1)]
    [InlineData(7, 7, 2, 2, 0, true, 1)]
    [InlineData(8, 5, 3, 2, 0, false, 1)]
    [InlineData(9, 9, 3, 1, 2, false, 2)]
    [InlineData(1, 1, 1, 1, 0, false, 1)]
    public void MaxPool(int h, int w, int k, int s, int p, bool ceil, int d)
    {
        var x = GradCheck.Spread(R(), 2, 3, h, w);
        GradCheck.Check(t => Tensor.MaxPool2d(t[0], (k, k), (s, s), (p, p), ceil, (d, d)), new[] { x }, maxPerInput: 80);
    }

    [Theory]
    [InlineData(7, 6, 3, 2, 1, true, true)]
    [InlineData(7, 6, 3, 2, 1, true, false)]
    [InlineData(5, 5, 2, 3, 1, false, true)]
    public void AvgPool(int h, int w, int k, int s, int p, bool ceil, bool includePad)
    {
        var x = GradCheck.Randn(R(), 2, 3, h, w);
        GradCheck.Check(t => Tensor.AvgPool2d(t[0], (k, k), (s, s), (p, p), ceil, includePad), new[] { x }, maxPerInput: 80);
    }

    [Fact]
    public void AdaptiveAndGlobalPool()
    {
        var x = GradCheck.Randn(R(), 2, 3, 7, 5);
        GradCheck.Check(t => Tensor.AdaptiveAvgPool2d(t[0], 3, 2), new[] { x });
        GradCheck.Check(t => Tensor.GlobalAvgPool2d(t[0]), new[] { x });
    }

    [Theory]
    [InlineData(4, 5, 9, 7, ResizeMode.Bilinear, false)]
    [InlineData(4, 5, 9, 7, ResizeMode.Bilinear, true)]
    [InlineData(9, 7, 4, 3, ResizeMode.Bilinear, false)]
    [InlineData(1, 1, 4, 4, ResizeMode.Bilinear, false)]
    [InlineData(3, 3, 1, 1, ResizeMode.Bilinear, true)]
    [InlineData(4, 5, 9, 7, ResizeMode.Nearest, false)]
    [InlineData(9, 7, 4, 3, ResizeMode.Nearest, false)]
    public void Interpolate(int h, int w, int oh, int ow, ResizeMode mode, bool align)
    {
        var x = GradCheck.Randn(R(), 2, 2, h, w);
        GradCheck.Check(t => Tensor.Interpolate(t[0], oh, ow, mode, align), new[] { x }, maxPerInput: 80);
    }

    /// <summary>A resize whose per-plane scratch (source rows × output width) is too large for the stack: values and
    /// gradient against the direct four-tap formula in double precision.</summary>
    [Fact]
    public void InterpolateWithARentedScratchMatchesTheDirectFormula()
    {
        int h = 6, w = 5, oh = 3, ow = 3000;
        var x = Tensor.Normal(new[] { 1, 2, h, w }, new Rng(8)).RequiresGrad_();
        var gy = Tensor.Normal(new[] { 1, 2, oh, ow }, new Rng(9));
        var y = Tensor.Interpolate(x, oh, ow, ResizeMode.Bilinear, false);
        y.Backward(gy);
        var (i0h, i1h, l1h) = Tensor.ResizeAxis(h, oh, ResizeMode.Bilinear, false, null);
        var (i0w, i1w, l1w) = Tensor.ResizeAxis(w, ow, ResizeMode.Bilinear, false, null);
        var gx = new double[x.Numel];
        for (int p = 0; p < 2; p++)
            for (int r = 0; r < oh; r++)
                for (int c = 0; c < ow; c++)
                {
                    double a1 = l1h[r], a0 = 1 - a1, b1 = l1w[c], b0 = 1 - b1;
                    int s = p * h * w, o = (p * oh + r) * ow + c;
                    double want = a0 * (b0 * x.Storage[s + i0h[r] * w + i0w[c]] + b1 * x.Storage[s + i0h[r] * w + i1w[c]])
                                + a1 * (b0 * x.Storage[s + i1h[r] * w + i0w[c]] + b1 * x.Storage[s + i1h[r] * w + i1w[c]]);
                    Assert.True(Math.Abs(y.Storage[o] - want) <= 1e-5, $"y[{o}] {y.Storage[o]} vs {want}");
                    double g = gy.Storage[o];
                    gx[s + i0h[r] * w + i0w[c]] += a0 * b0 * g; gx[s + i0h[r] * w + i1w[c]] += a0 * b1 * g;
                    gx[s + i1h[r] * w + i0w[c]] += a1 * b0 * g; gx[s + i1h[r] * w + i1w[c]] += a1 * b1 * g;
                }
        var got = x.Grad!.ToArray();
        for (int i = 0; i < gx.Length; i++) Assert.True(Math.Abs(got[i] - gx[i]) <= 1e-3 * Math.Max(1, Math.Abs(gx[i])), $"dx[{i}] {got[i]} vs {gx[i]}");
    }

    [Fact]
    public void DropoutWithFixedMask()
    {
        var x = GradCheck.Randn(R(), 3, 4, 5);
        GradCheck.Check(t => Tensor.Dropout(t[0], 0.3f, true, new Rng(99)), new[] { x });
    }

    [Fact]
    public void SoftmaxFamilyAndNormalize()
    {
        var rng = R();
        GradCheck.Check(t => Tensor.Softmax(t[0]), new[] { GradCheck.Randn(rng, 2, 5, 3, 2) }, label: "softmax");
        GradCheck.Check(t => Tensor.LogSoftmax(t[0]), new[] { GradCheck.Randn(rng, 2, 5, 3, 2) }, label: "logsoftmax");
        GradCheck.Check(t => Tensor.LogSoftmax(t[0]), new[] { GradCheck.Randn(rng, 3, 4) }, label: "logsoftmax-2d");
        GradCheck.Check(t => Tensor.L2Normalize(t[0]), new[] { GradCheck.Randn(rng, 2, 3, 4, 4) }, label: "normalize");
    }

    [Fact]
    public void ShapeOps()
    {
        var rng = R();
        var x = GradCheck.Randn(rng, 2, 3, 4);
        GradCheck.Check(t => t[0].Reshape(6, -1) * 2f, new[] { x }, label: "reshape");
        GradCheck.Check(t => t[0].Permute(2, 0, 1).Contiguous(), new[] { x }, label: "permute");
        GradCheck.Check(t => t[0].Transpose(0, 2) * t[0].Transpose(0, 2), new[] { x }, label: "transpose-twice-used");
        GradCheck.Check(t => t[0].Slice(1, 1, 2), new[] { x }, label: "slice");
        GradCheck.Check(t => t[0].Permute(1, 0, 2).Slice(0, 2, 1).Reshape(-1), new[] { x }, label: "view-chain");
        var y = GradCheck.Randn(rng, 2, 5, 4);
        GradCheck.Check(t => Tensor.Concat(new[] { t[0], t[1] }, 1), new[] { x, y }, label: "concat");
        GradCheck.Check(t => t[0].Slice(2, 0, 1).BroadcastTo(new[] { 2, 2, 3, 4 }).Contiguous(), new[] { x }, label: "broadcast");
    }

    [Fact]
    public void Losses()
    {
        var rng = R();
        var logits = GradCheck.Randn(rng, 2, 4, 3, 3);
        var labels = Tensor.FromArray(Enumerable.Range(0, 18).Select(i => (float)(i % 5 == 4 ? 255 : i % 4)).ToArray(), 2, 3, 3);
        GradCheck.Check(t => Loss.CrossEntropy(t[0], labels, ignoreIndex: 255), new[] { logits }, label: "ce");
        var cw = Tensor.FromArray(new float[] { 0.5f, 2f, 1f, 3f }, 4);
        GradCheck.Check(t => Loss.CrossEntropy(t[0], labels, 255, cw), new[] { logits }, label: "ce-weighted");
        var pred = GradCheck.Randn(rng, 2, 1, 4, 4);
        var target = Tensor.Normal(new[] { 2, 1, 4, 4 }, rng) * 3f; // differences stay away from 0
        var mask = Tensor.FromArray(Enumerable.Range(0, 32).Select(i => i % 3 == 0 ? 0f : 1f).ToArray(), 2, 1, 4, 4);
        GradCheck.Check(t => Loss.Mse(t[0], target, mask), new[] { pred }, label: "mse");
        var spread = GradCheck.Spread(rng, 2, 1, 4, 4);
        GradCheck.Check(t => Loss.L1(t[0], Tensor.Zeros(2, 1, 4, 4), mask), new[] { spread }, label: "l1");
        var npred = GradCheck.Randn(rng, 2, 3, 4, 4);
        var ntarget = Tensor.Normal(new[] { 2, 3, 4, 4 }, rng);
        GradCheck.Check(t => Loss.Normal(t[0], ntarget, mask), new[] { npred }, label: "normal");
    }

    [Fact]
    public void SoftThresholdOfAdapMtlDifferentiatesWrtThreshold()
    {
        // W' = sign(W)·relu(|W| − sigmoid(s)): gradients flow to both W and the scalar threshold s.
        var rng = R();
        var w = GradCheck.Spread(rng, 4, 6);
        var s = Tensor.FromArray(new[] { -2.2f }, 1).RequiresGrad_();
        GradCheck.Check(t => Tensor.Mul(t[0].Sign(), Tensor.Sub(t[0].Abs(), t[1].Sigmoid()).Relu()), new[] { w, s }, label: "str");
    }

    [Fact]
    public void MaskTimesWeightGivesCutScore()
    {
        // CUT's isomorphic tensor: d/dβ of L(W·β) at β = 1 equals W·dL/dW.
        var rng = R();
        var x = Tensor.Normal(new[] { 2, 3, 5, 5 }, rng);
        var w = Tensor.Normal(new[] { 4, 3, 3, 3 }, rng).RequiresGrad_();
        var beta = Tensor.Ones(4, 3, 3, 3).RequiresGrad_();
        Tensor.Conv2d(x, Tensor.Mul(w, beta), null, (1, 1), (1, 1), (1, 1)).Square().Sum().Backward();
        TensorAssert.Close(Tensor.Mul(w.Detach(), w.Grad!), beta.Grad!, 1e-4, 1e-4);
        GradCheck.Check(t => Tensor.Conv2d(x, Tensor.Mul(w.Detach(), t[0]), null, (1, 1), (1, 1), (1, 1)), new[] { beta }, label: "beta");
    }
}
