using MtlPrune.Engine.Kernels;

namespace MtlPrune.Engine;

public sealed partial class Tensor
{
    /// <summary>Elements per chunk of the dropout mask, each chunk drawn from its own generator.</summary>
    internal const int DropoutChunk = 16384;

    /// <summary>
    /// Zeroes each element with probability <paramref name="p"/> and scales the rest by 1/(1−p)
    /// (~ <c>F.dropout</c>); the identity when not training. The mask comes from <paramref name="rng"/>: the mask is cut
    /// into chunks of <see cref="DropoutChunk"/> elements, each drawn from a generator forked from <paramref name="rng"/>
    /// in chunk order, two elements per 64-bit draw (each kept when its 32 bits are at least p·2³²), and the chunks are
    /// filled in parallel, each chunk multiplied into the output as soon as it is drawn; so a seeded generator gives the
    /// same mask on any number of cores.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="p"/> is outside [0, 1].</exception>
    public static Tensor Dropout(Tensor x, float p, bool training, Rng rng)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentException($"Dropout: probability {p} must be in [0, 1].");
        if (!training || p == 0f) return x;
        var xc = x.Contiguous();
        var mask = Empty(x.Shape);
        var y = Empty(x.Shape);
        int n = mask.Span.Length, chunks = (n + DropoutChunk - 1) / DropoutChunk;
        var seeds = new ulong[chunks];
        for (int c = 0; c < chunks; c++) seeds[c] = rng.NextUInt64();
        var body = new DropoutMaskBody
        {
            Mask = mask.Storage, Offset = mask.Offset, X = xc.Storage, XOffset = xc.Offset, Y = y.Storage, Length = n, Seeds = seeds,
            Keep = p >= 1f ? 0f : 1f / (1f - p),
            Threshold = (ulong)Math.Round(p * 4294967296.0),   // at most 2³², where every element drops
        };
        WorkerPool.For(chunks, ref body);
        // y = x·mask in the same pass as the mask (the values of Mul(x, mask)); the gradient is g·mask.
        return y.WithGrad("Dropout", new[] { xc }, g => Autograd.Accumulate(xc, Mul(g, mask)));
    }

    private struct DropoutMaskBody : IParallelBody
    {
        public float[] Mask, X, Y; public int Offset, XOffset, Length; public ulong[] Seeds; public float Keep; public ulong Threshold;

        public void Run(int c)
        {
            var rng = new Rng(Seeds[c]);
            int len = Math.Min(DropoutChunk, Length - c * DropoutChunk);
            var m = Mask.AsSpan(Offset + c * DropoutChunk, len);
            Span<ulong> draws = stackalloc ulong[256];
            ulong threshold = Threshold;
            uint keep = BitConverter.SingleToUInt32Bits(Keep);
            for (int start = 0; start < m.Length; start += 2 * draws.Length)
            {
                var part = m.Slice(start, Math.Min(2 * draws.Length, m.Length - start));
                var d = draws[..((part.Length + 1) / 2)];
                rng.Fill(d);
                for (int i = 0; i < d.Length; i++)
                {
                    ulong r = d[i];
                    part[2 * i] = Pick(r & 0xFFFFFFFFUL, threshold, keep);
                    if (2 * i + 1 < part.Length) part[2 * i + 1] = Pick(r >> 32, threshold, keep);
                }
            }
            System.Numerics.Tensors.TensorPrimitives.Multiply(X.AsSpan(XOffset + c * DropoutChunk, len), m, Y.AsSpan(c * DropoutChunk, len));
        }

        /// <summary>keep when <paramref name="bits"/> ≥ <paramref name="threshold"/>, else 0, without a branch (a random one mispredicts half the time).</summary>
        private static float Pick(ulong bits, ulong threshold, uint keep) =>
            BitConverter.UInt32BitsToSingle(keep & ((uint)((bits - threshold) >> 63) - 1u));
    }
}
