namespace MtlPrune.Engine.Kernels;

/// <summary>Geometry of a 2-D convolution or pooling window.</summary>
internal readonly record struct ConvGeometry(int C, int H, int W, int Kh, int Kw, int Sh, int Sw, int Ph, int Pw, int Dh, int Dw, int Ho, int Wo)
{
    public int Rows => C * Kh * Kw;
    public int Cols => Ho * Wo;
}

/// <summary>Folds im2col columns back into an image (col2im), for the input gradient of strided convolutions.</summary>
internal static class Im2Col
{
    /// <summary>Adds each column entry back to the image position it came from (the adjoint of im2col).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void FoldAdd(ReadOnlySpan<float> cols, in ConvGeometry g, Span<float> x)
    {
        int hw = g.H * g.W, cw = g.Cols;
        for (int c = 0; c < g.C; c++)
            for (int ki = 0; ki < g.Kh; ki++)
                for (int kj = 0; kj < g.Kw; kj++)
                {
                    var row = cols.Slice(((c * g.Kh + ki) * g.Kw + kj) * cw, cw);
                    var plane = x.Slice(c * hw, hw);
                    int dj = kj * g.Dw - g.Pw;
                    for (int oh = 0; oh < g.Ho; oh++)
                    {
                        int ih = oh * g.Sh - g.Ph + ki * g.Dh;
                        if ((uint)ih >= (uint)g.H) continue;
                        var src = row.Slice(oh * g.Wo, g.Wo);
                        var dst = plane.Slice(ih * g.W, g.W);
                        if (g.Sw == 1)
                        {
                            int lo = Math.Clamp(-dj, 0, g.Wo), hi = Math.Clamp(g.W - dj, lo, g.Wo);
                            if (hi > lo) Elementwise.AddInPlace(dst.Slice(lo + dj, hi - lo), src.Slice(lo, hi - lo));
                        }
                        else
                        {
                            for (int ow = 0; ow < g.Wo; ow++)
                            {
                                int iw = ow * g.Sw + dj;
                                if ((uint)iw < (uint)g.W) dst[iw] += src[ow];
                            }
                        }
                    }
                }
    }
}
