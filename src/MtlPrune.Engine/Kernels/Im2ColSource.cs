using System.Runtime.CompilerServices;

namespace MtlPrune.Engine.Kernels;

/// <summary>
/// Implicit im2col: the patch matrix cols[(c·Kh + i)·Kw + j, oh·Wo + ow] of one image, packed panel by panel
/// straight from the image without materialising it. <see cref="Transposed"/> gives colsᵀ (for weight gradients).
/// </summary>
internal readonly unsafe struct Im2ColSource(float* image, ConvGeometry g, bool transposed) : IBSource
{
    private readonly float* _x = image;
    private readonly ConvGeometry _g = g;
    public bool Transposed { get; } = transposed;

    public void PackPanel(int k0, int kc, int j0, int n, float* dst)
    {
        const int Nr = MicroKernel.Nr;
        int cols = Math.Min(Nr, n - j0);
        if (!Transposed)
        {
            // rows k = kernel taps, columns j = output positions
            for (int k = 0; k < kc; k++)
            {
                Gather(k0 + k, j0, cols, dst + k * Nr, 1);
                if (cols < Nr) new Span<float>(dst + k * Nr + cols, Nr - cols).Clear();
            }
        }
        else
        {
            // rows k = output positions, columns j = kernel taps
            for (int j = 0; j < cols; j++) Gather(j0 + j, k0, kc, dst + j, Nr);
            for (int j = cols; j < Nr; j++)
                for (int k = 0; k < kc; k++) dst[k * Nr + j] = 0f;
        }
    }

    /// <summary>dst[t·stride] = image value under kernel tap <paramref name="tap"/> at output position pos0 + t.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Gather(int tap, int pos0, int count, float* dst, int stride)
    {
        var g = _g;
        int kj = tap % g.Kw, rest = tap / g.Kw, ki = rest % g.Kh, c = rest / g.Kh;
        float* plane = _x + (long)c * g.H * g.W;
        int oh = pos0 / g.Wo, ow = pos0 - oh * g.Wo, t = 0;
        int dh = ki * g.Dh - g.Ph, dw = kj * g.Dw - g.Pw;
        while (t < count)
        {
            int len = Math.Min(g.Wo - ow, count - t);
            int ih = oh * g.Sh + dh;
            float* d = dst + (long)t * stride;
            if ((uint)ih >= (uint)g.H)
            {
                for (int u = 0; u < len; u++) d[u * stride] = 0f;
            }
            else
            {
                float* row = plane + (long)ih * g.W;
                int iw0 = ow * g.Sw + dw;
                if (g.Sw == 1)
                {
                    int lo = Math.Clamp(-iw0, 0, len), hi = Math.Clamp(g.W - iw0, lo, len);
                    if (stride == 1)
                    {
                        if (lo > 0) new Span<float>(d, lo).Clear();
                        if (hi > lo) new ReadOnlySpan<float>(row + iw0 + lo, hi - lo).CopyTo(new Span<float>(d + lo, hi - lo));
                        if (len > hi) new Span<float>(d + hi, len - hi).Clear();
                    }
                    else
                    {
                        for (int u = 0; u < lo; u++) d[u * stride] = 0f;
                        for (int u = lo; u < hi; u++) d[u * stride] = row[iw0 + u];
                        for (int u = hi; u < len; u++) d[u * stride] = 0f;
                    }
                }
                else
                {
                    for (int u = 0; u < len; u++)
                    {
                        int iw = iw0 + u * g.Sw;
                        d[u * stride] = (uint)iw < (uint)g.W ? row[iw] : 0f;
                    }
                }
            }
            t += len; ow = 0; oh++;
        }
    }
}
