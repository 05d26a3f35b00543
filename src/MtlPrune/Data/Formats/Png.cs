using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MtlPrune.Engine.IO;

namespace MtlPrune.Data.Formats;

/// <summary>A decoded PNG: samples as integers (0–255 for 8-bit, 0–65535 for 16-bit), row-major, <see cref="Channels"/> per pixel.</summary>
public sealed record PngImage(int Width, int Height, int Channels, int BitDepth, ushort[] Samples)
{
    public ushort At(int y, int x, int c) => Samples[(y * Width + x) * Channels + c];
}

/// <summary>
/// PNG reader (bit depths 8 and 16; gray, gray+alpha, RGB, RGBA; palette with 1/2/4/8 bits, expanded to RGB or RGBA;
/// all five row filters; zlib through System.IO.Compression) and a minimal 8-bit writer. Interlaced (Adam7) files
/// are refused with a clear error.
/// </summary>
public static class Png
{
    private static readonly byte[] Signature = { 137, 80, 78, 71, 13, 10, 26, 10 };
    /// <summary>The largest image decoded: 2^28 pixels (16384 × 16384).</summary>
    public const long MaxPixels = 1L << 28;

    /// <exception cref="ModelFormatException">The file is not a PNG this reader supports; the message names the file and the fault.</exception>
    public static PngImage Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"PNG file '{path}' does not exist.", path);
        return Decode(File.ReadAllBytes(path), path);
    }

    public static PngImage Decode(byte[] data, string source)
    {
        if (data.Length < 8 || !data.AsSpan(0, 8).SequenceEqual(Signature)) throw new ModelFormatException(source, "not a PNG file (wrong signature).");
        int pos = 8, width = 0, height = 0, depth = 0, colorType = -1;
        byte[]? palette = null; byte[]? paletteAlpha = null;
        var idat = new MemoryStream();
        while (pos + 8 <= data.Length)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(pos));
            string type = Encoding.ASCII.GetString(data, pos + 4, 4);
            if (len < 0 || pos + 12 + (long)len > data.Length) throw new ModelFormatException(source, $"chunk '{type}' runs past the end of the file (truncated?).");
            var body = data.AsSpan(pos + 8, len);
            switch (type)
            {
                case "IHDR":
                    if (len != 13) throw new ModelFormatException(source, $"IHDR chunk has {len} bytes, not 13.");
                    width = BinaryPrimitives.ReadInt32BigEndian(body); height = BinaryPrimitives.ReadInt32BigEndian(body[4..]);
                    depth = body[8]; colorType = body[9];
                    if (body[12] != 0) throw new ModelFormatException(source, "interlaced (Adam7) PNGs are not supported; re-save without interlacing.");
                    break;
                case "PLTE": palette = body.ToArray(); break;
                case "tRNS": paletteAlpha = body.ToArray(); break;
                case "IDAT": idat.Write(body); break;
                case "IEND": pos = data.Length; continue;
            }
            pos += 12 + len;
        }
        if (width <= 0 || height <= 0) throw new ModelFormatException(source, "missing or invalid IHDR chunk.");
        int channels = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => throw new ModelFormatException(source, $"unsupported colour type {colorType}.") };
        bool paletted = colorType == 3;
        if (paletted ? depth is not (1 or 2 or 4 or 8) : depth is not (8 or 16))
            throw new ModelFormatException(source, $"unsupported bit depth {depth} for colour type {colorType} (supported: 8 and 16; palette 1-8).");
        if (paletted && palette is null) throw new ModelFormatException(source, "palette image without a PLTE chunk.");
        if (palette is not null && (palette.Length % 3 != 0 || palette.Length == 0)) throw new ModelFormatException(source, $"PLTE chunk of {palette.Length} bytes is not a whole number of RGB entries.");
        int bitsPerPixel = channels * depth, bpp = Math.Max(1, bitsPerPixel / 8);
        long strideLong = ((long)width * bitsPerPixel + 7) / 8, need = height * (strideLong + 1);
        if ((long)width * height > MaxPixels || need > int.MaxValue)
            throw new ModelFormatException(source, $"{width}×{height} pixels is more than this reader decodes ({MaxPixels} pixels).");
        int stride = (int)strideLong;
        // Inflate at most what the header promises, growing the buffer only as data arrives: memory follows what the
        // compressed stream really holds, not what a damaged header claims.
        byte[] raw;
        try
        {
            idat.Position = 0;
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            using var inflated = new MemoryStream((int)Math.Min(need, 1 << 16));
            var chunk = new byte[1 << 16];
            int n;
            while (inflated.Length < need && (n = z.Read(chunk, 0, (int)Math.Min(chunk.Length, need - inflated.Length))) > 0) inflated.Write(chunk, 0, n);
            raw = inflated.ToArray();
        }
        catch (Exception e) when (e is InvalidDataException or IOException) { throw new ModelFormatException(source, $"corrupt image data: {e.Message}"); }
        if (raw.Length < need) throw new ModelFormatException(source, $"image data too short: {raw.Length} bytes for {height} rows of {stride + 1}.");
        var prev = new byte[stride]; var cur = new byte[stride];
        int outChannels = paletted ? (paletteAlpha is null ? 3 : 4) : channels;
        var samples = new ushort[width * height * outChannels];
        for (int y = 0; y < height; y++)
        {
            int filter = raw[y * (stride + 1)];
            Array.Copy(raw, y * (stride + 1) + 1, cur, 0, stride);
            Unfilter(filter, cur, prev, bpp, source);
            for (int x = 0; x < width; x++)
            {
                int o = (y * width + x) * outChannels;
                if (paletted)
                {
                    int bit = x * depth, idx = (cur[bit / 8] >> (8 - depth - bit % 8)) & ((1 << depth) - 1);
                    if (idx * 3 + 2 >= palette!.Length) throw new ModelFormatException(source, $"palette index {idx} outside the {palette.Length / 3}-entry palette.");
                    for (int c = 0; c < 3; c++) samples[o + c] = palette[idx * 3 + c];
                    if (outChannels == 4) samples[o + 3] = idx < paletteAlpha!.Length ? paletteAlpha[idx] : (ushort)255;
                }
                else if (depth == 8) for (int c = 0; c < channels; c++) samples[o + c] = cur[x * channels + c];
                else for (int c = 0; c < channels; c++) samples[o + c] = BinaryPrimitives.ReadUInt16BigEndian(cur.AsSpan((x * channels + c) * 2));
            }
            (prev, cur) = (cur, prev);
        }
        return new PngImage(width, height, outChannels, paletted ? 8 : depth, samples);
    }

    private static void Unfilter(int filter, byte[] cur, byte[] prev, int bpp, string source)
    {
        for (int i = 0; i < cur.Length; i++)
        {
            int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
            cur[i] = filter switch
            {
                0 => cur[i],
                1 => (byte)(cur[i] + a),
                2 => (byte)(cur[i] + b),
                3 => (byte)(cur[i] + (a + b) / 2),
                4 => (byte)(cur[i] + Paeth(a, b, c)),
                _ => throw new ModelFormatException(source, $"unknown row filter {filter}."),
            };
        }
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>Encodes 8-bit samples (1 = gray, 3 = RGB, 4 = RGBA channels) with filter 0, or 16-bit when <paramref name="bitDepth"/> is 16.</summary>
    public static byte[] Encode(int width, int height, int channels, ReadOnlySpan<ushort> samples, int bitDepth = 8)
    {
        int colorType = channels switch { 1 => 0, 2 => 4, 3 => 2, 4 => 6, _ => throw new ArgumentException($"PNG: {channels} channels.") };
        if (bitDepth is not (8 or 16)) throw new ArgumentException($"PNG: bit depth {bitDepth}.");
        int bps = bitDepth / 8, stride = width * channels * bps;
        var raw = new byte[height * (stride + 1)];
        for (int y = 0; y < height; y++)
            for (int i = 0; i < width * channels; i++)
            {
                ushort v = samples[y * width * channels + i];
                if (bps == 1) raw[y * (stride + 1) + 1 + i] = (byte)v;
                else BinaryPrimitives.WriteUInt16BigEndian(raw.AsSpan(y * (stride + 1) + 1 + 2 * i), v);
            }
        var ms = new MemoryStream();
        ms.Write(Signature);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width); BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = (byte)bitDepth; ihdr[9] = (byte)colorType;
        Chunk(ms, "IHDR", ihdr);
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zs.Write(raw);
        Chunk(ms, "IDAT", z.ToArray());
        Chunk(ms, "IEND", Array.Empty<byte>());
        return ms.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] body)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, body.Length); s.Write(len);
        var tb = Encoding.ASCII.GetBytes(type); s.Write(tb); s.Write(body);
        uint crc = Crc32(tb, body);
        BinaryPrimitives.WriteUInt32BigEndian(len, crc); s.Write(len);
    }

    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    private static uint Crc32(byte[] a, byte[] b)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var x in a) c = CrcTable[(c ^ x) & 0xFF] ^ (c >> 8);
        foreach (var x in b) c = CrcTable[(c ^ x) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }
}
