namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>Softmax over dimension 1 (channels) of [N, C, ...] (~ <c>F.softmax(x, dim=1)</c>).</summary>
    public static Tensor Softmax(Tensor x) => ChannelSoftmax(x, log: false);

    /// <summary>Log-softmax over dimension 1 (channels) of [N, C, ...] (~ <c>F.log_softmax(x, dim=1)</c>).</summary>
    public static Tensor LogSoftmax(Tensor x) => ChannelSoftmax(x, log: true);

    private static Tensor ChannelSoftmax(Tensor x, bool log)
    {
        if (x.Rank < 2) throw new ArgumentException($"{(log ? "LogSoftmax" : "Softmax")}: input must be [N, C, ...], got {ShapeString(x.Shape)}.");
        int n = x.Shape[0], c = x.Shape[1], s = x.Numel / Math.Max(n * c, 1);
        var xc = x.Contiguous(); var xs = xc.Span;
        var y = Empty(x.Shape); var ys = y.Span;
        var max = BufferPool.Rent(s); var sum = BufferPool.Rent(s);
        for (int i = 0; i < n; i++)
        {
            int b = i * c * s;
            max.AsSpan().Fill(float.NegativeInfinity); sum.AsSpan().Clear();
            for (int ch = 0; ch < c; ch++) System.Numerics.Tensors.TensorPrimitives.Max(max, xs.Slice(b + ch * s, s), max);
            for (int ch = 0; ch < c; ch++)
            {
                var src = xs.Slice(b + ch * s, s); var dst = ys.Slice(b + ch * s, s);
                System.Numerics.Tensors.TensorPrimitives.Subtract(src, max, dst);
                Kernels.VectorMath.Exp(dst, dst);
                System.Numerics.Tensors.TensorPrimitives.Add(sum, dst, sum);
            }
            if (log)
            {
                System.Numerics.Tensors.TensorPrimitives.Log(sum, sum);
                System.Numerics.Tensors.TensorPrimitives.Add(sum, max, sum);
                for (int ch = 0; ch < c; ch++) System.Numerics.Tensors.TensorPrimitives.Subtract(xs.Slice(b + ch * s, s), sum, ys.Slice(b + ch * s, s));
            }
            else for (int ch = 0; ch < c; ch++) System.Numerics.Tensors.TensorPrimitives.Divide(ys.Slice(b + ch * s, s), sum, ys.Slice(b + ch * s, s));
        }
        BufferPool.Return(max); BufferPool.Return(sum);
        return y.WithGrad(log ? "LogSoftmax" : "Softmax", new[] { xc }, g =>
        {
            var ys = y.Span;
            var gs = g.Contiguous().Span; var gx = Empty(x.Shape); var gxs = gx.Span;
            var acc = BufferPool.Rent(s); var tmp = BufferPool.Rent(s);
            for (int i = 0; i < n; i++)
            {
                int b = i * c * s;
                acc.AsSpan().Clear();
                if (log)
                {
                    // dx = g − softmax · Σ_c g
                    for (int ch = 0; ch < c; ch++) System.Numerics.Tensors.TensorPrimitives.Add(acc, gs.Slice(b + ch * s, s), acc);
                    for (int ch = 0; ch < c; ch++)
                    {
                        Kernels.VectorMath.Exp(ys.Slice(b + ch * s, s), tmp);
                        System.Numerics.Tensors.TensorPrimitives.Multiply(tmp, acc, tmp);
                        System.Numerics.Tensors.TensorPrimitives.Subtract(gs.Slice(b + ch * s, s), tmp, gxs.Slice(b + ch * s, s));
                    }
                }
                else
                {
                    // dx = y · (g − Σ_c g·y)
                    for (int ch = 0; ch < c; ch++) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(gs.Slice(b + ch * s, s), ys.Slice(b + ch * s, s), acc, acc);
                    for (int ch = 0; ch < c; ch++)
                    {
                        System.Numerics.Tensors.TensorPrimitives.Subtract(gs.Slice(b + ch * s, s), acc, tmp);
                        System.Numerics.Tensors.TensorPrimitives.Multiply(tmp, ys.Slice(b + ch * s, s), gxs.Slice(b + ch * s, s));
                    }
                }
            }
            BufferPool.Return(acc); BufferPool.Return(tmp);
            Autograd.Accumulate(xc, gx);
        });
    }

    /// <summary>
    /// x / max(‖x‖₂, eps) over dimension 1 (channels) of [N, C, ...] (~ <c>F.normalize(x, dim=1)</c>).
    /// </summary>
    public static Tensor L2Normalize(Tensor x, float eps = 1e-12f)
    {
        if (x.Rank < 2) throw new ArgumentException($"L2Normalize: input must be [N, C, ...], got {ShapeString(x.Shape)}.");
        int n = x.Shape[0], c = x.Shape[1], s = x.Numel / Math.Max(n * c, 1);
        var xc = x.Contiguous(); var xs = xc.Span;
        var y = Empty(x.Shape); var ys = y.Span;
        var normT = Empty(new[] { n * s });
        var norm = normT.Storage;
        normT.Span.Clear();
        for (int i = 0; i < n; i++)
        {
            var nm = norm.AsSpan(i * s, s);
            for (int ch = 0; ch < c; ch++) { var p = xs.Slice((i * c + ch) * s, s); System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(p, p, nm, nm); }
            System.Numerics.Tensors.TensorPrimitives.Sqrt(nm, nm);
            System.Numerics.Tensors.TensorPrimitives.Max(nm, eps, nm);
            for (int ch = 0; ch < c; ch++) System.Numerics.Tensors.TensorPrimitives.Divide(xs.Slice((i * c + ch) * s, s), nm, ys.Slice((i * c + ch) * s, s));
        }
        return y.WithGrad("L2Normalize", new[] { xc }, g =>
        {
            var ys = y.Span;
            var gs = g.Contiguous().Span; var gx = Empty(x.Shape); var gxs = gx.Span;
            var dot = BufferPool.Rent(s); var tmp = BufferPool.Rent(s);
            var norm = normT.Storage;
            for (int i = 0; i < n; i++)
            {
                var nm = norm.AsSpan(i * s, s);
                dot.AsSpan().Clear();
                for (int ch = 0; ch < c; ch++) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(gs.Slice((i * c + ch) * s, s), ys.Slice((i * c + ch) * s, s), dot, dot);
                for (int j = 0; j < s; j++) if (nm[j] <= eps) dot[j] = 0f; // norm clamped: y = x/eps is linear
                for (int ch = 0; ch < c; ch++)
                {
                    // dx = (g − y·Σ g·y) / ‖x‖
                    System.Numerics.Tensors.TensorPrimitives.Multiply(ys.Slice((i * c + ch) * s, s), dot, tmp);
                    System.Numerics.Tensors.TensorPrimitives.Subtract(gs.Slice((i * c + ch) * s, s), tmp, tmp);
                    System.Numerics.Tensors.TensorPrimitives.Divide(tmp, nm, gxs.Slice((i * c + ch) * s, s));
                }
            }
            BufferPool.Return(dot); BufferPool.Return(tmp);
            Autograd.Accumulate(xc, gx);
        });
    }
}
