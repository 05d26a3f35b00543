namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// Batch normalisation over channel 1 of x [N, C, ...] (~ <c>F.batch_norm</c>). In training mode it
    /// normalises with the batch statistics (biased variance) and, when running buffers are given, updates
    /// them in place: running = (1 − momentum)·running + momentum·batch, with the unbiased variance.
    /// In evaluation mode it uses the running statistics.
    /// </summary>
    /// <exception cref="ArgumentException">A parameter's length is not C, or training with one value per channel.</exception>
    public static Tensor BatchNorm(Tensor x, Tensor? weight, Tensor? bias, Tensor? runningMean, Tensor? runningVar,
        bool training, float momentum = 0.1f, float eps = 1e-5f) => BatchNorm(x, weight, bias, runningMean, runningVar, training, momentum, eps, relu: false);

    /// <summary>
    /// <see cref="BatchNorm(Tensor, Tensor?, Tensor?, Tensor?, Tensor?, bool, float, float)"/> followed by ReLU in one pass
    /// (~ <c>relu(batch_norm(x))</c>): the output is clamped at 0 as it is written, and the backward pass masks the incoming
    /// gradient where the output is 0 before the batch-norm gradient, saving a read and a write of the activation each way.
    /// </summary>
    public static Tensor BatchNormRelu(Tensor x, Tensor? weight, Tensor? bias, Tensor? runningMean, Tensor? runningVar,
        bool training, float momentum = 0.1f, float eps = 1e-5f) => BatchNorm(x, weight, bias, runningMean, runningVar, training, momentum, eps, relu: true);

    private static Tensor BatchNorm(Tensor x, Tensor? weight, Tensor? bias, Tensor? runningMean, Tensor? runningVar,
        bool training, float momentum, float eps, bool relu)
    {
        if (x.Rank < 2) throw new ArgumentException($"BatchNorm: input must be [N, C, ...], got {ShapeString(x.Shape)}.");
        int n = x.Shape[0], c = x.Shape[1], s = x.Numel / Math.Max(n * c, 1);
        foreach (var (t, name) in new[] { (weight, "weight"), (bias, "bias"), (runningMean, "running_mean"), (runningVar, "running_var") })
            if (t is not null && t.Numel != c) throw new ArgumentException($"BatchNorm: {name} has shape {ShapeString(t.Shape)}, expected [{c}] for input {ShapeString(x.Shape)}.");
        if (!training && (runningMean is null || runningVar is null)) throw new ArgumentException("BatchNorm in eval mode needs running_mean and running_var.");
        int count = n * s;
        if (training && count <= 1) throw new ArgumentException($"BatchNorm: expected more than 1 value per channel when training, got input {ShapeString(x.Shape)}.");
        var xc = x.Contiguous();
        var mean = new float[c]; var invStd = new float[c];
        if (training)
        {
            var xsArr = xc.Storage; int xOff = xc.Offset;
            ParallelChannels(c, count, ch =>
            {
                float shift = xsArr[xOff + ch * s];
                double sum = 0, sq = 0;
                for (int i = 0; i < n; i++)
                {
                    var (a, b) = Kernels.Statistics.ShiftedMoments(xsArr.AsSpan(xOff + (i * c + ch) * s, s), shift);
                    sum += a; sq += b;
                }
                double m = sum / count;
                double var = Math.Max(sq / count - m * m, 0);
                mean[ch] = (float)(shift + m);
                invStd[ch] = (float)(1.0 / Math.Sqrt(var + eps));
                if (runningMean is not null && runningVar is not null)
                {
                    runningMean.Storage[runningMean.Offset + ch] = (float)((1 - momentum) * runningMean.Storage[runningMean.Offset + ch] + momentum * (shift + m));
                    runningVar.Storage[runningVar.Offset + ch] = (float)((1 - momentum) * runningVar.Storage[runningVar.Offset + ch] + momentum * var * count / (count - 1));
                }
            });
        }
        else
        {
            for (int ch = 0; ch < c; ch++)
            {
                mean[ch] = runningMean!.Storage[runningMean.Offset + ch];
                invStd[ch] = 1f / MathF.Sqrt(runningVar!.Storage[runningVar.Offset + ch] + eps);
            }
        }
        var wv = weight?.Contiguous(); var bv = bias?.Contiguous();
        var y = Empty(x.Shape);
        var xArr = xc.Storage; int xo = xc.Offset; var yArr = y.Storage;
        var wArr = wv?.Storage; int wo = wv?.Offset ?? 0; var bArr = bv?.Storage; int bo = bv?.Offset ?? 0;
        ParallelChannels(c, count, ch =>
        {
            float scale = invStd[ch] * (wArr is null ? 1f : wArr[wo + ch]);
            float shift = (bArr is null ? 0f : bArr[bo + ch]) - mean[ch] * scale;
            for (int i = 0; i < n; i++)
                Kernels.Affine.Apply(xArr.AsSpan(xo + (i * c + ch) * s, s), scale, shift, yArr.AsSpan((i * c + ch) * s, s), relu);
        });
        var inputs = new List<Tensor> { xc };
        if (wv is not null) inputs.Add(wv);
        if (bv is not null) inputs.Add(bv);
        return y.WithGrad(relu ? "BatchNormRelu" : "BatchNorm", inputs.ToArray(), gy =>
        {
            var gyc = gy.Contiguous();
            var gx = xc.RequiresGrad ? Empty(xc.Shape) : null;
            var gw = wv is not null && wv.RequiresGrad ? Empty(wv.Shape) : null;
            var gb = bv is not null && bv.RequiresGrad ? Empty(bv.Shape) : null;
            var body = new BackwardChannel
            {
                G = gyc.Storage, GOff = gyc.Offset, Y = relu ? y.Storage : null, YOff = y.Offset, X = xArr, XOff = xo, Gx = gx?.Storage, Gw = gw?.Storage, Gb = gb?.Storage,
                Weight = wArr, WOff = wo, Mean = mean, InvStd = invStd, N = n, C = c, S = s, Count = count, Training = training,
            };
            ParallelChannels(c, count, body.Run);
            if (gx is not null) Autograd.Accumulate(xc, gx);
            if (gw is not null) Autograd.Accumulate(wv!, gw);
            if (gb is not null) Autograd.Accumulate(bv!, gb);
        });
    }

    /// <summary>
    /// The backward pass of one channel. With the fused ReLU (<see cref="Y"/> set) the incoming gradient is read through
    /// the output's mask on the fly: PyTorch's convention at exactly 0 (no gradient), the same values as masking a copy
    /// first, without writing and re-reading that copy.
    /// </summary>
    private sealed unsafe class BackwardChannel
    {
        public float[] G = null!, X = null!, Mean = null!, InvStd = null!; public float[]? Y, Gx, Gw, Gb, Weight;
        public int GOff, YOff, XOff, WOff, N, C, S, Count; public bool Training;

        public void Run(int ch)
        {
            fixed (float* g = G) fixed (float* y = Y) fixed (float* x = X) fixed (float* gx = Gx)
            {
                if (y is null) Channel(ch, new Kernels.Statistics.PlainGrad(g + GOff), x + XOff, gx);
                else Channel(ch, new Kernels.Statistics.ReluGrad(g + GOff, y + YOff), x + XOff, gx);
            }
        }

        private void Channel<TGrad>(int ch, TGrad grad, float* x, float* gx) where TGrad : struct, Kernels.Statistics.IGrad
        {
            double sumG = 0, sumGx = 0;
            float mu = Mean[ch], inv = InvStd[ch];
            for (int i = 0; i < N; i++)
            {
                var (a, b) = Kernels.Statistics.GradMoments(grad, x, (i * C + ch) * S, S, mu);
                sumG += a; sumGx += b;
            }
            sumGx *= inv; // Σ g·x̂
            if (Gw is not null) Gw[ch] = (float)sumGx;
            if (Gb is not null) Gb[ch] = (float)sumG;
            if (gx is null) return;
            float gamma = Weight is null ? 1f : Weight[WOff + ch];
            // training: dx = γ·inv·(dy − Σdy/M − x̂·Σ(dy·x̂)/M); eval: dx = γ·inv·dy
            float k = gamma * inv, k1 = Training ? (float)(sumG / Count) : 0f, k2 = Training ? (float)(sumGx / Count) * inv : 0f;
            for (int i = 0; i < N; i++) Kernels.Statistics.BatchNormInputGrad(grad, x, (i * C + ch) * S, S, mu, k, k1, k2, gx);
        }
    }

    /// <summary>Runs <paramref name="body"/> for every channel, across cores when the tensor is large enough.</summary>
    private static void ParallelChannels(int c, int perChannel, Action<int> body)
    {
        if ((long)c * perChannel < 1 << 15 || Kernels.Gemm.MaxThreads <= 1) { for (int ch = 0; ch < c; ch++) body(ch); return; }
        Parallel.For(0, c, new ParallelOptions { MaxDegreeOfParallelism = Kernels.Gemm.MaxThreads }, body);
    }
}
