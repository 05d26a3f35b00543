using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace MtlPrune.Tests.Interop;

/// <summary>Builds zip archives for tests: torch.save-like archives with BCL's writer, and a zip64 archive by hand.</summary>
internal static class TorchZip
{
    /// <summary>A zip of the given members (stored unless <paramref name="deflate"/>).</summary>
    public static byte[] Zip(IEnumerable<(string Name, byte[] Data)> members, bool deflate = false)
    {
        var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, data) in members)
            {
                var e = zip.CreateEntry(name, deflate ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
                using var s = e.Open();
                s.Write(data);
            }
        return ms.ToArray();
    }

    /// <summary>A torch.save-like archive: <c>archive/data.pkl</c>, <c>archive/data/&lt;key&gt;</c>, <c>archive/version</c>.</summary>
    public static byte[] Torch(byte[] pickle, params (string Key, byte[] Data)[] storages) =>
        Zip(new[] { ("archive/data.pkl", pickle) }.Concat(storages.Select(s => ($"archive/data/{s.Key}", s.Data))).Append(("archive/version", Encoding.ASCII.GetBytes("3\n"))));

    public static byte[] Floats(params float[] v) { var b = new byte[v.Length * 4]; for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(i * 4), v[i]); return b; }

    /// <summary>A one-member stored archive written with every size and offset in zip64 fields.</summary>
    public static byte[] Zip64(string name, byte[] data)
    {
        var n = Encoding.ASCII.GetBytes(name);
        uint crc = MtlPrune.Engine.IO.Torch.Crc32.Compute(data);
        var o = new MemoryStream(); var w = new BinaryWriter(o);
        w.Write(0x04034b50u); w.Write((ushort)45); w.Write((ushort)0); w.Write((ushort)0); w.Write(0u); w.Write(crc);
        w.Write(0xFFFFFFFFu); w.Write(0xFFFFFFFFu); w.Write((ushort)n.Length); w.Write((ushort)20); w.Write(n);
        w.Write((ushort)1); w.Write((ushort)16); w.Write((long)data.Length); w.Write((long)data.Length);
        w.Write(data);
        long cd = o.Position;
        w.Write(0x02014b50u); w.Write((ushort)45); w.Write((ushort)45); w.Write((ushort)0); w.Write((ushort)0); w.Write(0u); w.Write(crc);
        w.Write(0xFFFFFFFFu); w.Write(0xFFFFFFFFu); w.Write((ushort)n.Length); w.Write((ushort)28); w.Write((ushort)0); w.Write((ushort)0);
        w.Write((ushort)0); w.Write(0u); w.Write(0xFFFFFFFFu); w.Write(n);
        w.Write((ushort)1); w.Write((ushort)24); w.Write((long)data.Length); w.Write((long)data.Length); w.Write(0L);
        long cdSize = o.Position - cd, z64 = o.Position;
        w.Write(0x06064b50u); w.Write(44L); w.Write((ushort)45); w.Write((ushort)45); w.Write(0u); w.Write(0u); w.Write(1L); w.Write(1L); w.Write(cdSize); w.Write(cd);
        w.Write(0x07064b50u); w.Write(0u); w.Write(z64); w.Write(1u);
        w.Write(0x06054b50u); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)0xFFFF); w.Write((ushort)0xFFFF); w.Write(0xFFFFFFFFu); w.Write(0xFFFFFFFFu); w.Write((ushort)0);
        return o.ToArray();
    }

    /// <summary>The offset of the (first) central directory record.</summary>
    public static int CentralRecord(byte[] zip)
    {
        for (int i = 0; i <= zip.Length - 4; i++) if (BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(i)) == 0x02014b50) return i;
        throw new InvalidOperationException("no central record");
    }
}
