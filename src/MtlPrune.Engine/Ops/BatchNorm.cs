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
        bool training, float momentum = 0.1f, float eps = 1e-5f)
    {
        if (x.Rank < 2) throw new ArgumentException($"BatchNorm: input must be [N, C, ...], got {ShapeString(x.Shape)}.");
        int n = x.Shape[0], c = x.Shape[1], s = x.Numel / Math.Max(n * c, 1);
        foreach (var (t, name) in new[] { (weight, "weight"), (bias, "bias"), (runningMean, "running_mean"), (runningVar, "running_var") })
            if (t is not null && t.Numel != c) throw new ArgumentException($"BatchNorm: {name} has shape {ShapeString(t.Shape)}, expected [{c}] for input {ShapeString(x.Shape)}.");
        if (!training && (runningMean is null || runningVar is null)) throw new ArgumentException("BatchNorm in eval mode needs running_mean and running_var.");
        int count = n * s;
        if (training && count <= 1) throw new ArgumentException($"BatchNorm: expected more than 1 value per channel when training, got input {ShapeString(x.Shape)}.");
        var xc = x.Contiguous();
        var xs = xc.Span;
        var mean = new float[c]; var invStd = new float[c];
        if (training)
        {
            for (int ch = 0; ch < c; ch++)
            {
                double sum = 0, sq = 0;
                for (int i = 0; i < n; i++)
                {
                    var p = xs.Slice((i * c + ch) * s, s);
                    sum += System.Numerics.Tensors.TensorPrimitives.Sum(p);
                }
                double mu = sum / count;
                for (int i = 0; i < n; i++)
                {
                    var p = xs.Slice((i * c + ch) * s, s);
                    for (int j = 0; j < p.Length; j++) { double d = p[j] - mu; sq += d * d; }
                }
                double var = sq / count;
                mean[ch] = (float)mu;
                invStd[ch] = (float)(1.0 / Math.Sqrt(var + eps));
                if (runningMean is not null && runningVar is not null)
                {
                    runningMean.Storage[runningMean.Offset + ch] = (float)((1 - momentum) * runningMean.Storage[runningMean.Offset + ch] + momentum * mu);
                    runningVar.Storage[runningVar.Offset + ch] = (float)((1 - momentum) * runningVar.Storage[runningVar.Offset + ch] + momentum * var * count / (count - 1));
                }
            }
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
        var ys = y.Span;
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
            {
                float scale = invStd[ch] * (wv is null ? 1f : wv.Span[ch]);
                float shift = (bv is null ? 0f : bv.Span[ch]) - mean[ch] * scale;
                Kernels.Affine.Apply(xs.Slice((i * c + ch) * s, s), scale, shift, ys.Slice((i * c + ch) * s, s));
            }
        var inputs = new List<Tensor> { xc };
        if (wv is not null) inputs.Add(wv);
        if (bv is not null) inputs.Add(bv);
        return y.WithGrad("BatchNorm", inputs.ToArray(), gy =>
        {
            var gs = gy.Contiguous().Span;
            var xsb = xc.Span;
            var gx = xc.RequiresGrad ? Empty(xc.Shape) : null;
            var gw = wv is not null && wv.RequiresGrad ? Empty(wv.Shape) : null;
            var gb = bv is not null && bv.RequiresGrad ? Empty(bv.Shape) : null;
            for (int ch = 0; ch < c; ch++)
            {
                double sumG = 0, sumGx = 0;
                float mu = mean[ch], inv = invStd[ch];
                for (int i = 0; i < n; i++)
                {
                    var gp = gs.Slice((i * c + ch) * s, s); var xp = xsb.Slice((i * c + ch) * s, s);
                    for (int j = 0; j < s; j++) { sumG += gp[j]; sumGx += gp[j] * (xp[j] - mu) * inv; }
                }
                if (gw is not null) gw.Span[ch] = (float)sumGx;
                if (gb is not null) gb.Span[ch] = (float)sumG;
                if (gx is null) continue;
                float gamma = wv is null ? 1f : wv.Span[ch];
                for (int i = 0; i < n; i++)
                {
                    var gp = gs.Slice((i * c + ch) * s, s); var xp = xsb.Slice((i * c + ch) * s, s);
                    var dp = gx.Span.Slice((i * c + ch) * s, s);
                    if (training)
                    {
                        // dx = γ·inv/M · (M·dy − Σdy − x̂·Σ(dy·x̂))
                        float k1 = (float)(sumG / count), k2 = (float)(sumGx / count), k = gamma * inv;
                        for (int j = 0; j < s; j++) dp[j] = k * (gp[j] - k1 - (xp[j] - mu) * inv * k2);
                    }
                    else System.Numerics.Tensors.TensorPrimitives.Multiply(gp, gamma * inv, dp);
                }
            }
            if (gx is not null) Autograd.Accumulate(xc, gx);
            if (gw is not null) Autograd.Accumulate(wv!, gw);
            if (gb is not null) Autograd.Accumulate(bv!, gb);
        });
    }
}
