using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// 2-D convolution (~ <c>F.conv2d</c>) of x [N, C, H, W] with weight [O, C/groups, Kh, Kw] and an
    /// optional bias [O]. Output [N, O, Ho, Wo] with Ho = ⌊(H + 2·Ph − Dh·(Kh−1) − 1)/Sh⌋ + 1.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes, groups or window do not fit; the message names the shapes.</exception>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, (int H, int W) stride, (int H, int W) padding,
        (int H, int W) dilation, int groups = 1)
    {
        if (x.Rank != 4) throw new ArgumentException($"Conv2d: input must be [N, C, H, W], got {ShapeString(x.Shape)}.");
        if (weight.Rank != 4) throw new ArgumentException($"Conv2d: weight must be [O, C/groups, Kh, Kw], got {ShapeString(weight.Shape)}.");
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int o = weight.Shape[0], cg = weight.Shape[1], kh = weight.Shape[2], kw = weight.Shape[3];
        if (groups < 1 || c % groups != 0 || o % groups != 0 || cg != c / groups)
            throw new ArgumentException($"Conv2d: input {ShapeString(x.Shape)} and weight {ShapeString(weight.Shape)} do not fit groups={groups}.");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != o))
            throw new ArgumentException($"Conv2d: bias {ShapeString(bias.Shape)} does not match weight {ShapeString(weight.Shape)}.");
        if (stride.H < 1 || stride.W < 1 || dilation.H < 1 || dilation.W < 1 || padding.H < 0 || padding.W < 0)
            throw new ArgumentException($"Conv2d: invalid stride {stride}, padding {padding} or dilation {dilation}.");
        int ho = (h + 2 * padding.H - dilation.H * (kh - 1) - 1) / stride.H + 1;
        int wo = (w + 2 * padding.W - dilation.W * (kw - 1) - 1) / stride.W + 1;
        if (h + 2 * padding.H - dilation.H * (kh - 1) - 1 < 0 || w + 2 * padding.W - dilation.W * (kw - 1) - 1 < 0)
            throw new ArgumentException($"Conv2d: kernel {kh}x{kw} (dilation {dilation}) is larger than the padded input {ShapeString(x.Shape)}.");
        var g = new ConvGeometry(cg, h, w, kh, kw, stride.H, stride.W, padding.H, padding.W, dilation.H, dilation.W, ho, wo);
        var shape = new ConvKernels.Shape(n, c, h, w, o, groups, g);
        var xc = x.Contiguous(); var wc = weight.Contiguous(); var bc = bias?.Contiguous();
        var y = Empty(new[] { n, o, ho, wo });
        // Kernel rows and columns that only ever read padding are left out (same results; see DeadTaps).
        var live = DeadTaps.Shrunk(shape) ?? shape;
        // The trimmed weights (and their gradient below) are tensors of the step's buffer scope, not fresh arrays: a rate-24
        // ASPP branch of DeepLab's training step trims 2 MB of them, forward and backward.
        var (lw, lwOff) = live == shape ? (wc.Storage, wc.Offset)
            : (DeadTaps.Weights(shape, live, wc.Storage, wc.Offset, Empty(new[] { o, cg, live.G.Kh, live.G.Kw }).Storage), 0);
        ConvKernels.Forward(live, xc.Storage, xc.Offset, lw, lwOff, bc?.Storage, bc?.Offset ?? 0, y.Storage, 0);
        var inputs = bc is null ? new[] { xc, wc } : new[] { xc, wc, bc };
        return y.WithGrad("Conv2d", inputs, gy =>
        {
            var gyc = gy.Contiguous();
            if (xc.RequiresGrad)
            {
                var gx = Empty(xc.Shape);
                ConvKernels.BackwardInput(live, gyc.Storage, gyc.Offset, lw, lwOff, gx.Storage, 0, false);
                Autograd.Accumulate(xc, gx);
            }
            if (wc.RequiresGrad)
            {
                var gw = n == 0 ? Zeros(wc.Shape) : Empty(wc.Shape);
                if (live == shape) ConvKernels.BackwardWeight(shape, gyc.Storage, gyc.Offset, xc.Storage, xc.Offset, gw.Storage, 0, false);
                else
                {
                    var gl = Empty(new[] { o, cg, live.G.Kh, live.G.Kw }).Storage;
                    ConvKernels.BackwardWeight(live, gyc.Storage, gyc.Offset, xc.Storage, xc.Offset, gl, 0, false);
                    DeadTaps.Expand(shape, live, gl, gw.Storage, 0);
                }
                Autograd.Accumulate(wc, gw);
            }
            if (bc is not null && bc.RequiresGrad) Autograd.Accumulate(bc, gyc.SumToShape(new[] { 1, o, 1, 1 }).Reshape(o));
        });
    }
}
