using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MtlPrune.Engine.IO;
using MtlPrune.Models;

namespace MtlPrune.Deploy;

/// <summary>How one weight is stored in a <c>.mtlp</c> file.</summary>
public sealed record MtlpTensor(string Name, int[] Shape, string Encoding, string DType, long Offset, long Length, long Nonzeros);

/// <summary>
/// The compact model file: "MTLP", version (u32 = 1), header length (u32), a UTF-8 JSON header (model spec, graph nodes,
/// task outputs, metadata, tensor table), then the tensors. Each weight is stored as whichever is smallest of
/// <c>dense</c> (all values), <c>bitmask</c> (one bit per element, LSB first, then the nonzero values) and <c>csr</c> (rows =
/// the first dimension: u32 row starts, u16 or u32 column indices, values); values in fp32, or fp16 when asked. The reader
/// checks every length, offset, count and index against the file and the graph's structure before using it; a malformed
/// file raises <see cref="ModelFormatException"/> naming the file and the fault.
/// </summary>
public static class MtlpFile
{
    private static readonly byte[] Magic = "MTLP"u8.ToArray();
    public const int Version = 1;
    private const int MaxHeader = 64 << 20;
    /// <summary>The reader decodes at most max(2^24, 256 × file size) elements in all, so a small file cannot make it allocate gigabytes.</summary>
    private const long MinElementBudget = 1L << 24;

    private sealed record Header(ModelSpec Spec, int InputChannels, List<GraphNode> Nodes, List<MtlpOutput> Outputs, Dictionary<string, string> Metadata, List<MtlpTensor> Tensors);

    /// <summary>A task's output value in the header.</summary>
    private sealed record MtlpOutput(string Task, int Value);

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Writes <paramref name="g"/> atomically; returns the tensor table (encodings chosen).</summary>
    public static IReadOnlyList<MtlpTensor> Write(InferenceGraph g, string path, bool fp16 = false)
    {
        var data = new MemoryStream();
        var table = new List<MtlpTensor>();
        foreach (var (name, t0) in g.Tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            // fp16 first rounds the values, so weights too small for fp16 count as the zeros they become.
            var t = fp16 ? t0 with { Data = t0.Data.Select(v => (float)(Half)v).ToArray() } : t0;
            var (encoding, bytes) = Encode(t, fp16);
            while (data.Length % 4 != 0) data.WriteByte(0);
            table.Add(new MtlpTensor(name, t.Shape, encoding, fp16 ? "f16" : "f32", data.Length, bytes.Length, t.Nonzeros));
            data.Write(bytes);
        }
        var header = JsonSerializer.SerializeToUtf8Bytes(new Header(g.Spec, g.InputChannels, g.Nodes, g.Outputs.Select(o => new MtlpOutput(o.Key, o.Value)).ToList(), g.Metadata, table), Json);
        AtomicFile.Write(path, s =>
        {
            s.Write(Magic);
            Span<byte> u = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(u, Version); s.Write(u);
            BinaryPrimitives.WriteUInt32LittleEndian(u, (uint)header.Length); s.Write(u);
            s.Write(header);
            data.Position = 0; data.CopyTo(s);
        });
        return table;
    }

    private static (string, byte[]) Encode(GraphTensor t, bool fp16)
    {
        int vs = fp16 ? 2 : 4;
        long n = t.Numel, nnz = t.Nonzeros;
        int rows = t.Shape.Length > 0 && t.Shape[0] > 0 ? t.Shape[0] : 1, cols = (int)(n / Math.Max(1, rows));
        long dense = n * vs, bitmask = (n + 7) / 8 + nnz * vs, csr = 4L * (rows + 1) + nnz * (cols <= 65536 ? 2 : 4) + nnz * vs;
        var o = new MemoryStream();
        void Value(float v)
        {
            Span<byte> b = stackalloc byte[4];
            if (fp16) { BinaryPrimitives.WriteHalfLittleEndian(b, (Half)v); o.Write(b[..2]); }
            else { BinaryPrimitives.WriteSingleLittleEndian(b, v); o.Write(b); }
        }
        if (dense <= bitmask && dense <= csr) { foreach (var v in t.Data) Value(v); return ("dense", o.ToArray()); }
        if (bitmask <= csr)
        {
            var bits = new byte[(n + 7) / 8];
            for (long i = 0; i < n; i++) if (t.Data[i] != 0) bits[i >> 3] |= (byte)(1 << (int)(i & 7));
            o.Write(bits);
            foreach (var v in t.Data) if (v != 0) Value(v);
            return ("bitmask", o.ToArray());
        }
        Span<byte> u = stackalloc byte[4];
        int k = 0;
        for (int r = 0; r <= rows; r++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(u, (uint)k); o.Write(u);
            if (r < rows) for (int c = 0; c < cols; c++) if (t.Data[r * cols + c] != 0) k++;
        }
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                if (t.Data[r * cols + c] != 0)
                {
                    if (cols <= 65536) { BinaryPrimitives.WriteUInt16LittleEndian(u, (ushort)c); o.Write(u[..2]); }
                    else { BinaryPrimitives.WriteUInt32LittleEndian(u, (uint)c); o.Write(u); }
                }
        foreach (var v in t.Data) if (v != 0) Value(v);
        return ("csr", o.ToArray());
    }

    /// <summary>Reads and validates a file.</summary>
    /// <exception cref="ModelFormatException">Malformed; the message names the file and the fault.</exception>
    public static InferenceGraph Read(string path) => Read(path, out _);

    /// <summary>Reads and validates a file, and returns how each tensor is stored.</summary>
    public static InferenceGraph Read(string path, out IReadOnlyList<MtlpTensor> table)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Compact model '{path}' does not exist.", path);
        return Parse(File.ReadAllBytes(path), path, out table);
    }

    /// <summary>Parses a file's bytes; <paramref name="source"/> names it in errors.</summary>
    public static InferenceGraph Parse(byte[] bytes, string source) => Parse(bytes, source, out _);

    public static InferenceGraph Parse(byte[] bytes, string source, out IReadOnlyList<MtlpTensor> table)
    {
        ModelFormatException Bad(string fault) => new(source, ".mtlp: " + fault);
        if (bytes.Length < 12 || !bytes.AsSpan(0, 4).SequenceEqual(Magic)) throw Bad("not a compact model file (it does not start with 'MTLP').");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4));
        if (version != Version) throw Bad($"version {version}; this reader reads version {Version}.");
        uint hl = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        if (hl > MaxHeader || hl > bytes.Length - 12) throw Bad($"header of {hl} bytes does not fit the {bytes.Length}-byte file (truncated?).");
        Header h;
        try { h = JsonSerializer.Deserialize<Header>(bytes.AsSpan(12, (int)hl), Json) ?? throw Bad("empty header."); }
        catch (JsonException e) { throw Bad($"header is not valid: {e.Message}"); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException or FormatException or OverflowException) { throw Bad($"header is not valid: {e.Message}"); }
        if (h.Spec is null || h.Nodes is null || h.Outputs is null || h.Tensors is null) throw Bad("header lacks spec, nodes, outputs or tensors.");
        var data = bytes.AsMemory(12 + (int)hl);
        var tensors = new Dictionary<string, GraphTensor>();
        long budget = Math.Max(MinElementBudget, 256L * bytes.Length);
        foreach (var t in h.Tensors)
        {
            if (t is null || string.IsNullOrEmpty(t.Name) || t.Shape is null || tensors.ContainsKey(t.Name)) throw Bad("a tensor entry is missing its name or shape, or repeats a name.");
            var decoded = Decode(t, data.Span, Bad, ref budget);
            tensors[t.Name] = decoded;
        }
        var g = new InferenceGraph { Spec = h.Spec, InputChannels = h.InputChannels, Nodes = h.Nodes, Tensors = tensors, Outputs = h.Outputs.Select(o => new KeyValuePair<string, int>(o?.Task!, o?.Value ?? -1)).ToList(), Metadata = h.Metadata ?? new() };
        GraphValidation.Check(g, f => Bad(f));
        table = h.Tensors;
        return g;
    }

    private static GraphTensor Decode(MtlpTensor t, ReadOnlySpan<byte> data, Func<string, ModelFormatException> bad, ref long budget)
    {
        long n = 1;
        if (t.Shape.Length > 8) throw bad($"tensor '{t.Name}' has {t.Shape.Length} dimensions.");
        foreach (var d in t.Shape)
        {
            if (d < 0) throw bad($"tensor '{t.Name}' has a negative dimension.");
            n *= d;
            if (n > 1L << 30) throw bad($"tensor '{t.Name}' has more than 2^30 elements.");
        }
        int vs = t.DType switch { "f32" => 4, "f16" => 2, _ => throw bad($"tensor '{t.Name}' has unknown dtype '{t.DType}'.") };
        if (t.Offset < 0 || t.Length < 0 || t.Offset > data.Length || t.Length > data.Length - t.Offset)
            throw bad($"tensor '{t.Name}' ({t.Length} bytes at {t.Offset}) lies outside the {data.Length}-byte data section (truncated?).");
        if (t.Nonzeros < 0 || t.Nonzeros > n) throw bad($"tensor '{t.Name}' claims {t.Nonzeros} nonzeros of {n}.");
        budget -= n;
        if (budget < 0) throw bad($"tensor '{t.Name}' takes the tensors beyond the element count a file of this size can hold.");
        var src = data.Slice((int)t.Offset, (int)t.Length);
        int nnz = (int)t.Nonzeros;
        float[] values;
        float Val(ReadOnlySpan<byte> b, int i) => vs == 4 ? BinaryPrimitives.ReadSingleLittleEndian(b[(i * 4)..]) : (float)BinaryPrimitives.ReadHalfLittleEndian(b[(i * 2)..]);
        switch (t.Encoding)
        {
            case "dense":
                if (t.Length != n * vs) throw bad($"dense tensor '{t.Name}' needs {n * vs} bytes, has {t.Length}.");
                values = new float[n];
                for (int i = 0; i < n; i++) values[i] = Val(src, i);
                break;
            case "bitmask":
                {
                    long maskBytes = (n + 7) / 8;
                    if (t.Length != maskBytes + (long)nnz * vs) throw bad($"bitmask tensor '{t.Name}' needs {maskBytes + (long)nnz * vs} bytes, has {t.Length}.");
                    var mask = src[..(int)maskBytes];
                    values = new float[n];
                    long ones = 0;
                    foreach (var b in mask) ones += BitOperations.PopCount(b);
                    if (ones != nnz) throw bad($"bitmask tensor '{t.Name}' marks {ones} elements but stores {nnz} values.");
                    if (n % 8 != 0 && mask[^1] >> (int)(n % 8) != 0) throw bad($"bitmask tensor '{t.Name}' marks elements beyond its {n}.");
                    var vals = src[(int)maskBytes..];
                    for (int i = 0, k = 0; i < n; i++) if ((mask[i >> 3] >> (i & 7) & 1) != 0) values[i] = Val(vals, k++);
                    break;
                }
            case "csr":
                {
                    int rows = t.Shape.Length > 0 && t.Shape[0] > 0 ? t.Shape[0] : 1, cols = (int)(n / Math.Max(1, rows));
                    int ib = cols <= 65536 ? 2 : 4;
                    if (t.Length != 4L * (rows + 1) + (long)nnz * (ib + vs)) throw bad($"csr tensor '{t.Name}' needs {4L * (rows + 1) + (long)nnz * (ib + vs)} bytes, has {t.Length}.");
                    values = new float[n];
                    var rowPtr = src[..(4 * (rows + 1))]; var idx = src[(4 * (rows + 1))..]; var vals = idx[(nnz * ib)..];
                    uint prev = 0;
                    for (int r = 0; r < rows; r++)
                    {
                        uint a = BinaryPrimitives.ReadUInt32LittleEndian(rowPtr[(4 * r)..]), b = BinaryPrimitives.ReadUInt32LittleEndian(rowPtr[(4 * r + 4)..]);
                        if (a != prev || b < a || b > nnz || (r == 0 && a != 0)) throw bad($"csr tensor '{t.Name}' has bad row starts at row {r}.");
                        for (uint k = a; k < b; k++)
                        {
                            int c = ib == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(idx[(int)(2 * k)..]) : (int)BinaryPrimitives.ReadUInt32LittleEndian(idx[(int)(4 * k)..]);
                            if ((uint)c >= (uint)cols) throw bad($"csr tensor '{t.Name}' has column {c} beyond its {cols} columns.");
                            values[(long)r * cols + c] = Val(vals, (int)k);
                        }
                        prev = b;
                    }
                    if (prev != nnz) throw bad($"csr tensor '{t.Name}' row starts end at {prev}, not at its {nnz} values.");
                    break;
                }
            default: throw bad($"tensor '{t.Name}' has unknown encoding '{t.Encoding}'.");
        }
        return new GraphTensor(t.Shape, values);
    }
}
