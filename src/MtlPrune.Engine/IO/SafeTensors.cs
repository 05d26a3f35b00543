using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace MtlPrune.Engine.IO;

/// <summary>One tensor entry of a safetensors header: offsets are relative to the data buffer, end exclusive.</summary>
public sealed record SafeTensorInfo(string Name, DType DType, int[] Shape, long Begin, long End)
{
    public long Numel => Shape.Aggregate(1L, (a, d) => a * d);
}

/// <summary>A parsed and validated safetensors file held in memory.</summary>
public sealed class SafeTensorsFile
{
    private readonly byte[] _bytes;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _byName;

    /// <summary>Where the file came from, for error messages.</summary>
    public string Source { get; }
    /// <summary>The <c>__metadata__</c> string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Entries in data-offset order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    internal SafeTensorsFile(string source, byte[] bytes, long dataStart, List<SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Source = source; _bytes = bytes; _dataStart = dataStart; Tensors = tensors; Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name);
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    private SafeTensorInfo Info(string name) =>
        _byName.TryGetValue(name, out var i) ? i : throw new KeyNotFoundException($"{Source}: no tensor named '{name}'.");

    private ReadOnlySpan<byte> Bytes(SafeTensorInfo i) => _bytes.AsSpan((int)(_dataStart + i.Begin), (int)(i.End - i.Begin));

    /// <summary>The tensor converted to float32; <see cref="Tensor.FileDType"/> remembers the stored type.</summary>
    public Tensor GetTensor(string name)
    {
        var i = Info(name);
        var t = Tensor.Empty(i.Shape);
        ElementConvert.ToFloats(Bytes(i), i.DType, t.Span);
        t.FileDType = i.DType;
        t.Name = name;
        return t;
    }

    /// <summary>The tensor's elements converted to int64 (exact for integer and bool types).</summary>
    public long[] GetInt64(string name)
    {
        var i = Info(name);
        int size = DTypeInfo.SizeOf(i.DType);
        var b = Bytes(i);
        var r = new long[i.Numel];
        for (int k = 0; k < r.Length; k++) r[k] = ElementConvert.ReadLong(b.Slice(k * size, size), i.DType);
        return r;
    }

    /// <summary>All tensors as float32, keyed by name.</summary>
    public Dictionary<string, Tensor> ToDictionary() => Tensors.ToDictionary(t => t.Name, t => GetTensor(t.Name));
}

/// <summary>
/// Reads and writes the safetensors format (u64 header length, JSON header, one hole-free data buffer),
/// validating as the reference implementation does: header at most 100 MB and starting with '{', no
/// duplicate names, offsets contiguous from 0, each size equal to elements × dtype size, buffer fully covered.
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest header accepted, as in the reference implementation.</summary>
    public const long MaxHeaderSize = 100_000_000;

    /// <summary>Reads and validates a file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelFormatException">The file is malformed; the message names the file and the fault.</exception>
    public static SafeTensorsFile Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Safetensors file '{path}' does not exist.", path);
        using var fs = File.OpenRead(path);
        if (fs.Length < 8) throw new ModelFormatException(path, $"truncated: {fs.Length} bytes, but the header length alone takes 8.");
        Span<byte> head = stackalloc byte[8];
        fs.ReadExactly(head);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(head);
        if (n > MaxHeaderSize) throw new ModelFormatException(path, $"header claims {n} bytes, more than the {MaxHeaderSize}-byte limit.");
        if (8 + (long)n > fs.Length) throw new ModelFormatException(path, $"truncated: header claims {n} bytes but the file has only {fs.Length - 8} after the length field.");
        if (fs.Length > int.MaxValue) throw new ModelFormatException(path, $"file of {fs.Length} bytes is larger than this reader supports (2 GiB).");
        var bytes = new byte[fs.Length];
        fs.Position = 0;
        fs.ReadExactly(bytes);
        return Parse(bytes, path);
    }

    /// <summary>Parses and validates a file's bytes; <paramref name="source"/> names it in errors.</summary>
    public static SafeTensorsFile Parse(byte[] bytes, string source)
    {
        if (bytes.Length < 8) throw new ModelFormatException(source, $"truncated: {bytes.Length} bytes, but the header length alone takes 8.");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n > MaxHeaderSize) throw new ModelFormatException(source, $"header claims {n} bytes, more than the {MaxHeaderSize}-byte limit.");
        if (8 + (long)n > bytes.Length) throw new ModelFormatException(source, $"truncated: header claims {n} bytes but the file has only {bytes.Length - 8} after the length field.");
        var header = bytes.AsSpan(8, (int)n);
        if (header.Length == 0 || header[0] != (byte)'{') throw new ModelFormatException(source, "header does not start with '{'.");
        var (tensors, metadata) = ParseHeader(header, source);
        long dataLen = bytes.Length - 8 - (long)n;
        tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        foreach (var t in tensors)
        {
            if (t.Begin < expected) throw new ModelFormatException(source, $"tensor '{t.Name}' has offsets [{t.Begin}, {t.End}) overlapping the previous tensor, which ends at {expected}.");
            if (t.Begin > expected) throw new ModelFormatException(source, $"tensor '{t.Name}' starts at {t.Begin}, leaving a hole after offset {expected}.");
            if (t.End < t.Begin) throw new ModelFormatException(source, $"tensor '{t.Name}' has end offset {t.End} before its begin {t.Begin}.");
            long need;
            try { need = checked(t.Numel * DTypeInfo.SizeOf(t.DType)); }
            catch (OverflowException) { throw new ModelFormatException(source, $"tensor '{t.Name}' shape {Tensor.ShapeString(t.Shape)} overflows."); }
            if (t.End - t.Begin != need)
                throw new ModelFormatException(source, $"tensor '{t.Name}' ({t.DType}, shape {Tensor.ShapeString(t.Shape)}) needs {need} bytes but its offsets [{t.Begin}, {t.End}) give {t.End - t.Begin}.");
            if (t.End > dataLen) throw new ModelFormatException(source, $"tensor '{t.Name}' ends at offset {t.End}, beyond the {dataLen}-byte data buffer (file truncated?).");
            expected = t.End;
        }
        if (expected != dataLen) throw new ModelFormatException(source, $"data buffer has {dataLen} bytes but the tensors cover only {expected} (file not fully covered).");
        return new SafeTensorsFile(source, bytes, 8 + (long)n, tensors, metadata);
    }

    private static (List<SafeTensorInfo>, Dictionary<string, string>) ParseHeader(ReadOnlySpan<byte> header, string source)
    {
        var tensors = new List<SafeTensorInfo>();
        var metadata = new Dictionary<string, string>();
        var names = new HashSet<string>();
        // Trailing spaces pad the header; the reader stops after the top-level object.
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject) throw new ModelFormatException(source, "header is not a JSON object.");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                string name = reader.GetString()!;
                if (!names.Add(name)) throw new ModelFormatException(source, $"duplicate key '{name}' in header.");
                reader.Read();
                if (name == "__metadata__") { ReadMetadata(ref reader, metadata, source); continue; }
                tensors.Add(ReadEntry(ref reader, name, source));
            }
            int end = (int)reader.BytesConsumed;
            foreach (var b in header[end..]) if (b != (byte)' ') throw new ModelFormatException(source, "header has data after the JSON object other than space padding.");
        }
        catch (JsonException e) { throw new ModelFormatException(source, $"header is not valid JSON: {e.Message}"); }
        catch (InvalidOperationException e) { throw new ModelFormatException(source, $"header has an unexpected JSON structure: {e.Message}"); }
        return (tensors, metadata);
    }

    private static void ReadMetadata(ref Utf8JsonReader reader, Dictionary<string, string> metadata, string source)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new ModelFormatException(source, "__metadata__ must be an object of strings.");
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String) throw new ModelFormatException(source, $"__metadata__ value for '{key}' is not a string.");
            metadata[key] = reader.GetString()!;
        }
    }

    private static SafeTensorInfo ReadEntry(ref Utf8JsonReader reader, string name, string source)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new ModelFormatException(source, $"entry for tensor '{name}' is not an object.");
        string? dtype = null; int[]? shape = null; long[]? offsets = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            reader.Read();
            switch (key)
            {
                case "dtype": dtype = reader.GetString(); break;
                case "shape": shape = ReadLongs(ref reader, name, key, source).Select(v => v is < 0 or > int.MaxValue ? throw new ModelFormatException(source, $"tensor '{name}' has invalid dimension {v}.") : (int)v).ToArray(); break;
                case "data_offsets": offsets = ReadLongs(ref reader, name, key, source); break;
                default: reader.Skip(); break;
            }
        }
        if (dtype is null || shape is null || offsets is null) throw new ModelFormatException(source, $"tensor '{name}' lacks dtype, shape or data_offsets.");
        if (!DTypeInfo.TryParseSafetensors(dtype, out var dt)) throw new ModelFormatException(source, $"tensor '{name}' has unsupported dtype '{dtype}'.");
        if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < 0) throw new ModelFormatException(source, $"tensor '{name}' data_offsets must be two non-negative integers.");
        return new SafeTensorInfo(name, dt, shape, offsets[0], offsets[1]);
    }

    private static long[] ReadLongs(ref Utf8JsonReader reader, string name, string key, string source)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new ModelFormatException(source, $"tensor '{name}' {key} is not an array.");
        var r = new List<long>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long v)) throw new ModelFormatException(source, $"tensor '{name}' {key} holds a non-integer.");
            r.Add(v);
        }
        return r.ToArray();
    }

    /// <summary>
    /// Writes tensors atomically (temporary file, then rename). Each tensor is stored as its
    /// <see cref="Tensor.FileDType"/>; the header is padded with spaces to a multiple of 8 bytes.
    /// </summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var bytes = Serialize(tensors, metadata);
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>The file's bytes (see <see cref="Write"/>).</summary>
    public static byte[] Serialize(IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var dup = list.GroupBy(kv => kv.Key).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"Duplicate tensor name '{dup.Key}'.");
        if (list.Any(kv => kv.Key == "__metadata__")) throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor.");
        list = list.OrderByDescending(kv => DTypeInfo.SizeOf(kv.Value.FileDType)).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long off = 0;
            foreach (var (name, t) in list)
            {
                long size = (long)t.Numel * DTypeInfo.SizeOf(t.FileDType);
                w.WriteStartObject(name);
                w.WriteString("dtype", DTypeInfo.SafetensorsName(t.FileDType));
                w.WriteStartArray("shape"); foreach (var d in t.Shape) w.WriteNumberValue(d); w.WriteEndArray();
                w.WriteStartArray("data_offsets"); w.WriteNumberValue(off); w.WriteNumberValue(off + size); w.WriteEndArray();
                w.WriteEndObject();
                off += size;
            }
            w.WriteEndObject();
        }
        int headerLen = (int)ms.Length, padded = (headerLen + 7) / 8 * 8;
        long total = 8 + padded + list.Sum(kv => (long)kv.Value.Numel * DTypeInfo.SizeOf(kv.Value.FileDType));
        if (total > int.MaxValue) throw new ArgumentException("Model too large for one safetensors buffer in this writer (2 GiB).");
        var bytes = new byte[total];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        ms.GetBuffer().AsSpan(0, headerLen).CopyTo(bytes.AsSpan(8));
        bytes.AsSpan(8 + headerLen, padded - headerLen).Fill((byte)' ');
        int pos = 8 + padded;
        foreach (var (name, t) in list)
        {
            int size = DTypeInfo.SizeOf(t.FileDType);
            var data = t.Contiguous().Span;
            var dst = bytes.AsSpan(pos, t.Numel * size);
            if (t.FileDType == DType.F32) System.Runtime.InteropServices.MemoryMarshal.AsBytes(data).CopyTo(dst);
            else
            {
                try { for (int i = 0; i < data.Length; i++) ElementConvert.WriteFloat(dst.Slice(i * size, size), data[i], t.FileDType); }
                catch (OverflowException) { throw new ArgumentException($"Tensor '{name}' has values that do not fit {t.FileDType}."); }
            }
            pos += t.Numel * size;
        }
        return bytes;
    }
}
