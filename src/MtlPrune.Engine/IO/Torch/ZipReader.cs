using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace MtlPrune.Engine.IO.Torch;

/// <summary>One member of a zip archive, from its central-directory record.</summary>
public sealed record ZipEntry(string Name, int Method, long CompressedSize, long Size, long LocalHeaderOffset, uint Crc32, int Flags);

/// <summary>
/// A minimal zip reader for the archives <c>torch.save</c> writes (stored members, zip64 when large) that also reads
/// deflated members. Every length and offset is checked against the file before it is used: a member can never make
/// the reader allocate more than the file's size justifies (stored: its own size; deflated: at most 1032 times its
/// compressed size, deflate's largest ratio), and a member whose CRC-32 does not match is refused. Faults raise
/// <see cref="ModelFormatException"/> naming the file.
/// </summary>
public sealed class ZipReader : IDisposable
{
    private const uint EocdSig = 0x06054b50, Zip64LocatorSig = 0x07064b50, Zip64EocdSig = 0x06064b50, CentralSig = 0x02014b50, LocalSig = 0x04034b50;
    private readonly Stream _stream;
    private readonly long _length;

    public string Source { get; }
    public IReadOnlyList<ZipEntry> Entries { get; }

    /// <summary>Opens a zip file; it stays open until <see cref="Dispose"/>.</summary>
    public static ZipReader Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"File '{path}' does not exist.", path);
        var fs = File.OpenRead(path);
        try { return new ZipReader(fs, path); }
        catch { fs.Dispose(); throw; }
    }

    /// <summary>Reads the central directory of <paramref name="stream"/> (seekable).</summary>
    public ZipReader(Stream stream, string source)
    {
        _stream = stream; Source = source; _length = stream.Length;
        Entries = ReadCentralDirectory();
    }

    public void Dispose() => _stream.Dispose();

    /// <summary>True when the stream starts with a local file header ("PK\x03\x04").</summary>
    public static bool LooksLikeZip(ReadOnlySpan<byte> head) => head.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == LocalSig;

    private ModelFormatException Bad(string fault) => new(Source, "zip archive: " + fault);

    private byte[] ReadAt(long offset, int count, string what)
    {
        if (offset < 0 || count < 0 || offset > _length - count) throw Bad($"{what} at offset {offset} (+{count} bytes) lies outside the {_length}-byte file (truncated?).");
        var b = new byte[count];
        _stream.Position = offset;
        _stream.ReadExactly(b);
        return b;
    }

    private List<ZipEntry> ReadCentralDirectory()
    {
        if (_length < 22) throw Bad($"{_length} bytes is too short for a zip archive (its end record alone takes 22).");
        int tail = (int)Math.Min(_length, 22 + 65535);
        var end = ReadAt(_length - tail, tail, "end of central directory");
        int at = -1;
        for (int i = tail - 22; i >= 0; i--)
            if (BinaryPrimitives.ReadUInt32LittleEndian(end.AsSpan(i)) == EocdSig && i + 22 + BinaryPrimitives.ReadUInt16LittleEndian(end.AsSpan(i + 20)) <= tail) { at = i; break; }
        if (at < 0) throw Bad("no end-of-central-directory record (not a zip file, or truncated).");
        var e = end.AsSpan(at);
        long count = BinaryPrimitives.ReadUInt16LittleEndian(e[10..]);
        long cdSize = BinaryPrimitives.ReadUInt32LittleEndian(e[12..]);
        long cdOffset = BinaryPrimitives.ReadUInt32LittleEndian(e[16..]);
        long eocdPos = _length - tail + at;
        if (count == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF)
        {
            var loc = ReadAt(eocdPos - 20, 20, "zip64 end-of-central-directory locator");
            if (BinaryPrimitives.ReadUInt32LittleEndian(loc) != Zip64LocatorSig) throw Bad("zip64 sizes are announced but the zip64 locator is missing.");
            long z64 = BinaryPrimitives.ReadInt64LittleEndian(loc.AsSpan(8));
            var rec = ReadAt(z64, 56, "zip64 end-of-central-directory record");
            if (BinaryPrimitives.ReadUInt32LittleEndian(rec) != Zip64EocdSig) throw Bad("bad zip64 end-of-central-directory signature.");
            count = BinaryPrimitives.ReadInt64LittleEndian(rec.AsSpan(32));
            cdSize = BinaryPrimitives.ReadInt64LittleEndian(rec.AsSpan(40));
            cdOffset = BinaryPrimitives.ReadInt64LittleEndian(rec.AsSpan(48));
        }
        if (cdSize < 0 || cdOffset < 0 || cdSize > int.MaxValue || cdOffset > _length - cdSize) throw Bad($"central directory [{cdOffset}, +{cdSize}) lies outside the file.");
        if (count < 0 || count > cdSize / 46) throw Bad($"{count} entries cannot fit in a {cdSize}-byte central directory.");
        var cd = ReadAt(cdOffset, (int)cdSize, "central directory");
        var entries = new List<ZipEntry>((int)count);
        var names = new HashSet<string>();
        int p = 0;
        for (long n = 0; n < count; n++)
        {
            if (p > cd.Length - 46 || BinaryPrimitives.ReadUInt32LittleEndian(cd.AsSpan(p)) != CentralSig) throw Bad($"central directory entry {n} is malformed.");
            var h = cd.AsSpan(p);
            int flags = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
            int method = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
            uint crc = BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
            long csize = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
            long usize = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
            int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]), extraLen = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]), commentLen = BinaryPrimitives.ReadUInt16LittleEndian(h[32..]);
            long offset = BinaryPrimitives.ReadUInt32LittleEndian(h[42..]);
            if (p + 46L + nameLen + extraLen + commentLen > cd.Length) throw Bad($"central directory entry {n} runs past the directory's end.");
            string name = Encoding.UTF8.GetString(cd, p + 46, nameLen);
            var extra = cd.AsSpan(p + 46 + nameLen, extraLen);
            // Zip64 extended information: the 64-bit values, in this order, for each 32-bit field that is 0xFFFFFFFF.
            for (int x = 0; x + 4 <= extra.Length;)
            {
                int id = BinaryPrimitives.ReadUInt16LittleEndian(extra[x..]), len = BinaryPrimitives.ReadUInt16LittleEndian(extra[(x + 2)..]);
                if (x + 4 + len > extra.Length) throw Bad($"entry '{name}' has an extra field running past its end.");
                if (id == 1)
                {
                    var z = extra.Slice(x + 4, len);
                    int q = 0;
                    foreach (var which in new[] { 0, 1, 2 })
                    {
                        bool wanted = which switch { 0 => usize == 0xFFFFFFFF, 1 => csize == 0xFFFFFFFF, _ => offset == 0xFFFFFFFF };
                        if (!wanted) continue;
                        if (q + 8 > z.Length) throw Bad($"entry '{name}': its zip64 field is too short.");
                        long v = BinaryPrimitives.ReadInt64LittleEndian(z[q..]);
                        q += 8;
                        if (which == 0) usize = v; else if (which == 1) csize = v; else offset = v;
                    }
                }
                x += 4 + len;
            }
            if ((flags & 1) != 0) throw Bad($"entry '{name}' is encrypted.");
            if (csize < 0 || usize < 0 || offset < 0 || offset >= _length || csize > _length) throw Bad($"entry '{name}' has sizes or an offset outside the file.");
            if (!names.Add(name)) throw Bad($"entry '{name}' appears twice.");
            entries.Add(new ZipEntry(name, method, csize, usize, offset, crc, flags));
            p += 46 + nameLen + extraLen + commentLen;
        }
        return entries;
    }

    /// <summary>The member's bytes, decompressed and CRC-checked.</summary>
    /// <exception cref="ModelFormatException">The member is damaged, too large for one array, or uses an unsupported method.</exception>
    public byte[] Read(ZipEntry e)
    {
        var lh = ReadAt(e.LocalHeaderOffset, 30, $"local header of '{e.Name}'");
        if (BinaryPrimitives.ReadUInt32LittleEndian(lh) != LocalSig) throw Bad($"entry '{e.Name}' has no local header at offset {e.LocalHeaderOffset}.");
        long dataStart = e.LocalHeaderOffset + 30 + BinaryPrimitives.ReadUInt16LittleEndian(lh.AsSpan(26)) + BinaryPrimitives.ReadUInt16LittleEndian(lh.AsSpan(28));
        if (dataStart > _length - e.CompressedSize) throw Bad($"entry '{e.Name}' ({e.CompressedSize} bytes at {dataStart}) runs past the end of the {_length}-byte file (truncated?).");
        if (e.Size > Array.MaxLength) throw Bad($"entry '{e.Name}' holds {e.Size} bytes, more than this reader supports in one piece (2 GiB).");
        byte[] data;
        switch (e.Method)
        {
            case 0:
                if (e.Size != e.CompressedSize) throw Bad($"stored entry '{e.Name}' has size {e.Size} but {e.CompressedSize} stored bytes.");
                data = ReadAt(dataStart, (int)e.Size, $"data of '{e.Name}'");
                break;
            case 8:
                if (e.Size > e.CompressedSize * 1032 + 1024) throw Bad($"deflated entry '{e.Name}' claims {e.Size} bytes from {e.CompressedSize}, beyond deflate's largest ratio.");
                data = new byte[e.Size];
                _stream.Position = dataStart;
                using (var window = new BoundedStream(_stream, e.CompressedSize))
                using (var inflate = new DeflateStream(window, CompressionMode.Decompress, leaveOpen: true))
                {
                    int got = 0;
                    try
                    {
                        while (got < data.Length) { int r = inflate.Read(data, got, data.Length - got); if (r == 0) break; got += r; }
                        if (got < data.Length) throw Bad($"deflated entry '{e.Name}' ends after {got} of its {e.Size} bytes.");
                        if (inflate.Read(new byte[1], 0, 1) != 0) throw Bad($"deflated entry '{e.Name}' holds more than its declared {e.Size} bytes.");
                    }
                    catch (InvalidDataException x) { throw Bad($"deflated entry '{e.Name}' is corrupt: {x.Message}"); }
                }
                break;
            default: throw Bad($"entry '{e.Name}' uses compression method {e.Method}; only stored (0) and deflate (8) are supported.");
        }
        if (Crc32.Compute(data) != e.Crc32) throw Bad($"entry '{e.Name}' fails its CRC-32 check (the file is corrupted).");
        return data;
    }

    /// <summary>A read-only window of <paramref name="length"/> bytes from the inner stream's current position.</summary>
    private sealed class BoundedStream(Stream inner, long length) : Stream
    {
        private long _left = length;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_left <= 0) return 0;
            int r = inner.Read(buffer, offset, (int)Math.Min(count, _left));
            _left -= r;
            return r;
        }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
