namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Kernel rows and columns that read only padding. With a dilation as large as the input (an ASPP branch of rate 24 on
/// a 16×20 feature map), the outer taps fall outside the input at every output position: they multiply zeros forward,
/// send their input gradient only to padding, and get a weight gradient of exactly 0. Trimming the same number of them
/// from both ends (and the padding with them) leaves the output size, the values and the gradients unchanged, and the
/// convolution, its phase buffer and its columns shrink (a 3×3 of rate 24 there becomes a 1×1 without padding).
/// </summary>
internal static class DeadTaps
{
    /// <summary>How many kernel rows (columns) to trim from each end: those whose input row lies outside [0, n) for every output.</summary>
    private static int Trim(int n, int outs, int k, int stride, int pad, int dil)
    {
        bool Dead(int j)
        {
            for (int o = 0; o < outs; o++) { int i = o * stride - pad + j * dil; if ((uint)i < (uint)n) return false; }
            return true;
        }
        int t = 0;
        while (2 * (t + 1) <= k - 1 && Dead(t) && Dead(k - 1 - t)) t++;
        return pad - t * dil >= 0 ? t : 0;
    }

    /// <summary>The shape with trimmed rows and columns, or null when nothing reads only padding.</summary>
    public static ConvKernels.Shape? Shrunk(in ConvKernels.Shape s)
    {
        var g = s.G;
        int th = Trim(s.H, g.Ho, g.Kh, g.Sh, g.Ph, g.Dh), tw = Trim(s.W, g.Wo, g.Kw, g.Sw, g.Pw, g.Dw);
        if (th == 0 && tw == 0) return null;
        var g2 = g with { Kh = g.Kh - 2 * th, Kw = g.Kw - 2 * tw, Ph = g.Ph - th * g.Dh, Pw = g.Pw - tw * g.Dw };
        return s with { G = g2 };
    }

    /// <summary>Copies the live taps of weight [O, Cg, Kh, Kw] into a new [O, Cg, Kh', Kw'] array for <paramref name="to"/>.</summary>
    public static float[] Weights(in ConvKernels.Shape from, in ConvKernels.Shape to, float[] w, int wOff) =>
        Weights(from, to, w, wOff, new float[from.O * from.Cg * to.G.Kh * to.G.Kw]);

    /// <summary>Copies the live taps of weight [O, Cg, Kh, Kw] into <paramref name="r"/> as [O, Cg, Kh', Kw'] for <paramref name="to"/>, and returns it.</summary>
    public static float[] Weights(in ConvKernels.Shape from, in ConvKernels.Shape to, float[] w, int wOff, float[] r)
    {
        int th = (from.G.Kh - to.G.Kh) / 2, tw = (from.G.Kw - to.G.Kw) / 2;
        for (int oc = 0; oc < from.O * from.Cg; oc++)
            for (int i = 0; i < to.G.Kh; i++)
                for (int j = 0; j < to.G.Kw; j++)
                    r[(oc * to.G.Kh + i) * to.G.Kw + j] = w[wOff + (oc * from.G.Kh + i + th) * from.G.Kw + j + tw];
        return r;
    }

    /// <summary>Spreads a weight gradient for <paramref name="to"/> back over the full kernel of <paramref name="from"/>, zeros at the trimmed taps.</summary>
    public static void Expand(in ConvKernels.Shape from, in ConvKernels.Shape to, float[] g, float[] dst, int dstOff)
    {
        int th = (from.G.Kh - to.G.Kh) / 2, tw = (from.G.Kw - to.G.Kw) / 2;
        dst.AsSpan(dstOff, from.O * from.Cg * from.G.Kh * from.G.Kw).Clear();
        for (int oc = 0; oc < from.O * from.Cg; oc++)
            for (int i = 0; i < to.G.Kh; i++)
                for (int j = 0; j < to.G.Kw; j++)
                    dst[dstOff + (oc * from.G.Kh + i + th) * from.G.Kw + j + tw] = g[(oc * to.G.Kh + i) * to.G.Kw + j];
    }
}
