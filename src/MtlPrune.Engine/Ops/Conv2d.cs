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
        int og = o / groups;
        bool direct = kh == 1 && kw == 1 && stride == (1, 1) && padding == (0, 0);
        var xc = x.Contiguous(); var wc = weight.Contiguous(); var bc = bias?.Contiguous();
        var y = Empty(new[] { n, o, ho, wo });
        int inImg = c * h * w, outImg = o * ho * wo, spatial = ho * wo;
        var cols = direct ? null : NewBuffer(g.Rows * g.Cols);
        for (int i = 0; i < n; i++)
            for (int gi = 0; gi < groups; gi++)
            {
                var xin = xc.Span.Slice(i * inImg + gi * cg * h * w, cg * h * w);
                ReadOnlySpan<float> colSpan = xin;
                if (!direct) { Im2Col.Unfold(xin, g, cols); colSpan = cols; }
                Gemm.Sgemm(false, false, og, spatial, g.Rows, wc.Span.Slice(gi * og * g.Rows, og * g.Rows), g.Rows,
                    colSpan, spatial, y.Span.Slice(i * outImg + gi * og * spatial, og * spatial), spatial, false);
            }
        if (bc is not null)
            for (int i = 0; i < n; i++)
                for (int oc = 0; oc < o; oc++)
                    System.Numerics.Tensors.TensorPrimitives.Add(y.Span.Slice(i * outImg + oc * spatial, spatial), bc.Span[oc], y.Span.Slice(i * outImg + oc * spatial, spatial));
        var inputs = bc is null ? new[] { xc, wc } : new[] { xc, wc, bc };
        return y.WithGrad("Conv2d", inputs, gy =>
        {
            var gs = gy.Contiguous().Span;
            Tensor? gx = xc.RequiresGrad ? Zeros(xc.Shape) : null;
            Tensor? gw = wc.RequiresGrad ? Zeros(wc.Shape) : null;
            var colsB = direct ? null : NewBuffer(g.Rows * g.Cols);
            var dcols = gx is null || direct ? null : NewBuffer(g.Rows * g.Cols);
            for (int i = 0; i < n; i++)
                for (int gi = 0; gi < groups; gi++)
                {
                    var gout = gs.Slice(i * outImg + gi * og * spatial, og * spatial);
                    var wg = wc.Span.Slice(gi * og * g.Rows, og * g.Rows);
                    var xin = xc.Span.Slice(i * inImg + gi * cg * h * w, cg * h * w);
                    if (gw is not null)
                    {
                        ReadOnlySpan<float> colSpan = xin;
                        if (!direct) { Im2Col.Unfold(xin, g, colsB); colSpan = colsB; }
                        Gemm.Sgemm(false, true, og, g.Rows, spatial, gout, spatial, colSpan, spatial, gw.Span.Slice(gi * og * g.Rows, og * g.Rows), g.Rows, true);
                    }
                    if (gx is not null)
                    {
                        var gxin = gx.Span.Slice(i * inImg + gi * cg * h * w, cg * h * w);
                        if (direct) Gemm.Sgemm(true, false, g.Rows, spatial, og, wg, g.Rows, gout, spatial, gxin, spatial, true);
                        else
                        {
                            Gemm.Sgemm(true, false, g.Rows, spatial, og, wg, g.Rows, gout, spatial, dcols, spatial, false);
                            Im2Col.FoldAdd(dcols, g, gxin);
                        }
                    }
                }
            if (gx is not null) Autograd.Accumulate(xc, gx);
            if (gw is not null) Autograd.Accumulate(wc, gw);
            if (bc is not null && bc.RequiresGrad) Autograd.Accumulate(bc, gy.SumToShape(new[] { 1, o, 1, 1 }).Reshape(o));
        });
    }
}
