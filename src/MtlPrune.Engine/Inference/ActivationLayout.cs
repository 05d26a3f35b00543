using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine.Inference;

/// <summary>
/// Where an activation [N, C, H, W] lives in its buffer. Plain (no padding): NCHW. Padded by (PadH, PadW): channel-major,
/// each channel holding the N images stacked vertically, each image surrounded by a zero border, so that the buffer is
/// exactly the phase buffer a stride-1 convolution with that padding reads (<see cref="PaddedConv"/>): a layer that
/// writes its output this way spares the next layer the copy into its own buffer. The border must stay zero; writers
/// touch only the interior, so a buffer that starts zeroed and holds only values of the same plane geometry keeps it.
/// <para>
/// Padded and <paramref name="Wide"/>: each row starts 16 floats into its stretch, which is a whole number of 16-float
/// vectors (the left border is 16 zeros, the right one the next row's left), so that in a 64-byte-aligned buffer every
/// row's first column, and every 16th after it, starts a cache line: a stride-1 convolution then reads its middle
/// column of taps with aligned loads and writes whole aligned vectors. A convolution reading it in place sees an image
/// <see cref="RowStride"/> − 2·PadW wide whose columns past W are zeros (<see cref="InferenceConv"/>).
/// </para>
/// </summary>
public readonly record struct ActivationLayout(int N, int C, int H, int W, int PadH = 0, int PadW = 0, bool Wide = false)
{
    /// <summary>The <see cref="Lead"/> of wide rows: one 16-float vector, so PadW may be at most this.</summary>
    public const int WideLead = 16;
    /// <summary>Floats from the start of a row's stretch to its first column: <see cref="WideLead"/> when <see cref="Wide"/>, else PadW.</summary>
    public int Lead => Wide ? WideLead : PadW;
    public static ActivationLayout Plain(int n, int c, int h, int w) => new(n, c, h, w);

    public bool Padded => PadH > 0 || PadW > 0;
    /// <summary>Floats from one row of an image to the next.</summary>
    public int RowStride => Wide ? WideLead + (W + WideLead - 1) / WideLead * WideLead : W + 2 * PadW;
    /// <summary>Rows of one padded image.</summary>
    public int PaddedRows => H + 2 * PadH;
    /// <summary>Floats from an image to the next, same channel.</summary>
    public long ImageStride => Padded ? (long)PaddedRows * RowStride : (long)C * H * W;
    /// <summary>Floats from a channel to the next, same image.</summary>
    public long ChannelStride => Padded ? (long)N * PaddedRows * RowStride : (long)H * W;
    /// <summary>Offset of the first row of image <paramref name="n"/>, channel <paramref name="c"/>, row <paramref name="row"/>.</summary>
    public long Row(int n, int c, int row) => n * ImageStride + c * ChannelStride + (Padded ? (long)(PadH + row) * RowStride + Lead : (long)row * W);
    /// <summary>Floats the activation spans.</summary>
    /// <remarks>With wide rows, <see cref="WideLead"/> floats more: the last row's right border is the lead of the row that would follow.</remarks>
    public long Length => Padded ? C * ChannelStride + (Wide ? WideLead : 0) : (long)N * C * H * W;
    /// <summary>Floats its buffer needs: a padded buffer is read past its end by up to a tile plus the kernels' slack.</summary>
    public long Capacity => Length + (Padded ? PaddedConv.Slack + SparseConv.Tile : 0);
    /// <summary>Whether a convolution of this stride and padding reads this buffer as its phase buffer, without a copy.</summary>
    public bool ServesAsPhaseBuffer((int H, int W) stride, (int H, int W) padding) =>
        Padded && stride == (1, 1) && padding == (PadH, PadW);
}
