namespace MtlPrune.Engine.Kernels;

/// <summary>Public entry points to the raw kernels, for benchmarks: no autograd, no shape checks beyond the ops'.</summary>
public static class GemmApi
{
    /// <summary>C[M,N] = A[M,K]·B[K,N], row-major.</summary>
    public static void Sgemm(int m, int n, int k, float[] a, float[] b, float[] c) =>
        Gemm.Sgemm(false, false, m, n, k, a, k, b, n, c, n, false);

    private static ConvKernels.Shape ShapeOf(int[] xs, int[] ws, int s, int p)
    {
        int ho = (xs[2] + 2 * p - ws[2]) / s + 1, wo = (xs[3] + 2 * p - ws[3]) / s + 1;
        int groups = xs[1] / ws[1];
        return new ConvKernels.Shape(xs[0], xs[1], xs[2], xs[3], ws[0], groups, new ConvGeometry(ws[1], xs[2], xs[3], ws[2], ws[3], s, s, p, p, 1, 1, ho, wo));
    }

    /// <summary>Whether depthwise convolutions use the direct kernel (true) or the grouped GEMM (false), to compare the two.</summary>
    public static bool DirectDepthwise { get => ConvKernels.UseDepthwise; set => ConvKernels.UseDepthwise = value; }

    /// <summary>Convolution forward (dilation 1; groups = C / weight.Shape[1]).</summary>
    public static Tensor ConvForward(Tensor x, Tensor w, int stride, int padding)
    {
        var s = ShapeOf(x.Shape, w.Shape, stride, padding);
        var y = Tensor.Empty(new[] { s.N, s.O, s.G.Ho, s.G.Wo });
        ConvKernels.Forward(s, x.Storage, x.Offset, w.Storage, w.Offset, null, 0, y.Storage, 0);
        return y;
    }

    /// <summary>Convolution input gradient.</summary>
    public static Tensor ConvBackwardInput(Tensor dy, Tensor w, int[] xShape, int stride, int padding)
    {
        var s = ShapeOf(xShape, w.Shape, stride, padding);
        var dx = Tensor.Empty(xShape);
        ConvKernels.BackwardInput(s, dy.Storage, dy.Offset, w.Storage, w.Offset, dx.Storage, 0, false);
        return dx;
    }

    /// <summary>Convolution weight gradient.</summary>
    public static Tensor ConvBackwardWeight(Tensor dy, Tensor x, int[] wShape, int stride, int padding)
    {
        var s = ShapeOf(x.Shape, wShape, stride, padding);
        var dw = Tensor.Empty(wShape);
        ConvKernels.BackwardWeight(s, dy.Storage, dy.Offset, x.Storage, x.Offset, dw.Storage, 0, false);
        return dw;
    }
}
