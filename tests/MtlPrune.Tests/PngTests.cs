using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MtlPrune.Data.Formats;
using MtlPrune.Engine.IO;

namespace MtlPrune.Tests;

/// <summary>The PNG reader against files assembled byte by byte here (chunks, CRCs ignored by the reader, zlib data).</summary>
public class PngTests
{
    private static byte[] Build(int w, int h, int depth, int colorType, byte[] rawRows, byte[]? plte = null, byte[]? trns = null, int interlace = 0)
    {
        var ms = new MemoryStream();
        ms.Write(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 });
        void Chunk(string type, byte[] body)
        {
            var len = new byte[4]; BinaryPrimitives.WriteInt32BigEndian(len, body.Length);
            ms.Write(len); ms.Write(Encoding.ASCII.GetBytes(type)); ms.Write(body); ms.Write(new byte[4]);
        }
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w); BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = (byte)depth; ihdr[9] = (byte)colorType; ihdr[12] = (byte)interlace;
        Chunk("IHDR", ihdr);
        if (plte is not null) Chunk("PLTE", plte);
        if (trns is not null) Chunk("tRNS", trns);
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Fastest, true)) zs.Write(rawRows);
        Chunk("IDAT", z.ToArray());
        Chunk("IEND", Array.Empty<byte>());
        return ms.ToArray();
    }

    [Fact]
    public void Gray8WithEveryFilter()
    {
        // Two rows of 3 pixels: row 0 filter Sub (1), row 1 filter Paeth (4). Values: [10, 20, 30], [15, 25, 40].
        // Sub: 10, 10, 10. Paeth (a = left, b = up, c = up-left): x=0: pred b=10 → 5; x=1: a=15,b=20,c=10 → p=25 → pa=10,pb=5,pc=15 → b=20 → 5;
        // x=2: a=25,b=30,c=20 → p=35 → pa=10,pb=5,pc=15 → b=30 → 10.
        var raw = new byte[] { 1, 10, 10, 10, 4, 5, 5, 10 };
        var img = Png.Decode(Build(3, 2, 8, 0, raw), "gray.png");
        Assert.Equal(new ushort[] { 10, 20, 30, 15, 25, 40 }, img.Samples);
        // Up (2) and Average (3): row 0 none [1, 2, 3]; row 1 up +[1,1,1] → [2,3,4]; row 2 average: x0: 4 + (0+2)/2 = 5, x1: 1 + (5+3)/2 = 5, x2: 0 + (5+4)/2 = 4
        var raw2 = new byte[] { 0, 1, 2, 3, 2, 1, 1, 1, 3, 4, 1, 0 };
        Assert.Equal(new ushort[] { 1, 2, 3, 2, 3, 4, 5, 5, 4 }, Png.Decode(Build(3, 3, 8, 0, raw2), "avg.png").Samples);
    }

    [Fact]
    public void SixteenBitGrayRgbRgbaAndPalette()
    {
        var g16 = Png.Decode(Build(2, 1, 16, 0, new byte[] { 0, 0x01, 0x02, 0xFF, 0xFE }), "d16.png");
        Assert.Equal(new ushort[] { 0x0102, 0xFFFE }, g16.Samples);
        Assert.Equal(16, g16.BitDepth);
        var rgb = Png.Decode(Build(1, 2, 8, 2, new byte[] { 0, 1, 2, 3, 0, 4, 5, 6 }), "rgb.png");
        Assert.Equal(3, rgb.Channels);
        Assert.Equal((ushort)6, rgb.At(1, 0, 2));
        var rgba = Png.Decode(Build(1, 1, 8, 6, new byte[] { 0, 9, 8, 7, 255 }), "rgba.png");
        Assert.Equal(new ushort[] { 9, 8, 7, 255 }, rgba.Samples);
        // 2-bit palette, 4 pixels in one byte: indices 0, 1, 2, 1 = 0b00_01_10_01
        var pal = Png.Decode(Build(4, 1, 2, 3, new byte[] { 0, 0b0001_1001 }, plte: new byte[] { 0, 0, 0, 255, 0, 0, 0, 255, 0 }), "pal.png");
        Assert.Equal(3, pal.Channels);
        Assert.Equal(new ushort[] { 0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 0, 0 }, pal.Samples);
        var palA = Png.Decode(Build(2, 1, 8, 3, new byte[] { 0, 1, 0 }, plte: new byte[] { 1, 2, 3, 4, 5, 6 }, trns: new byte[] { 7 }), "pala.png");
        Assert.Equal(new ushort[] { 4, 5, 6, 255, 1, 2, 3, 7 }, palA.Samples);
    }

    [Fact]
    public void EncodeDecodeRoundTrip()
    {
        var samples = Enumerable.Range(0, 5 * 4 * 3).Select(i => (ushort)(i * 4)).ToArray();
        Assert.Equal(samples, Png.Decode(Png.Encode(5, 4, 3, samples), "rt.png").Samples);
        var s16 = Enumerable.Range(0, 6).Select(i => (ushort)(i * 9000)).ToArray();
        Assert.Equal(s16, Png.Decode(Png.Encode(3, 2, 1, s16, 16), "rt16.png").Samples);
    }

    [Theory]
    [InlineData("signature")]
    [InlineData("interlaced")]
    [InlineData("depth")]
    [InlineData("truncated")]
    [InlineData("filter")]
    public void RejectsWhatItCannotRead(string fault)
    {
        byte[] bytes = fault switch
        {
            "signature" => Encoding.ASCII.GetBytes("GIF89a........"),
            "interlaced" => Build(1, 1, 8, 0, new byte[] { 0, 1 }, interlace: 1),
            "depth" => Build(1, 1, 4, 0, new byte[] { 0, 1 }),
            "truncated" => Build(4, 4, 8, 0, new byte[] { 0, 1, 2, 3, 4 }),
            _ => Build(1, 1, 8, 0, new byte[] { 9, 1 }),
        };
        var e = Assert.Throws<ModelFormatException>(() => Png.Decode(bytes, $"{fault}.png"));
        Assert.StartsWith($"{fault}.png:", e.Message);
    }
}
