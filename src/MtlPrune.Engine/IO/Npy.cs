using System.Buffers.Binary;
using System.Text;

namespace MtlPrune.Engine.IO;

/// <summary>A NumPy array read from a .npy file, with its data already in C (row-major) order.</summary>
public sealed class NpyArray
{
    public string Source { get; }
    /// <summary>The stored type string, e.g. <c>&lt;f4</c>.</summary>
    public string Descr { get; }
    public DType DType { get; }
    public int[] Shape { get; }
    /// <summary>Whether the file stored the data column-major (it has been reordered).</summary>
    public bool WasFortranOrder { get; }
    /// <summary>File format version (1, 2 or 3).</summary>
    public int Version { get; }
    /// <summary>Little-endian element bytes in row-major order.</summary>
    public byte[] Data { get; }

    internal NpyArray(string source, string descr, DType dtype, int[] shape, bool fortran, int version, byte[] data)
    { Source = source; Descr = descr; DType = dtype; Shape = shape; WasFortranOrder = fortran; Version = version; Data = data; }

    public int Numel => Shape.Aggregate(1, (a, d) => a * d);

    /// <summary>The values converted to float32.</summary>
    public Tensor ToTensor()
    {
        var t = Tensor.Empty(Shape);
        ElementConvert.ToFloats(Data, DType, t.Span);
        return t;
    }

    /// <summary>The values converted to int64; float values must be integral.</summary>
    /// <exception cref="ModelFormatException">A float value is not an integer.</exception>
    public long[] ToInt64()
    {
        int size = DTypeInfo.SizeOf(DType);
        var r = new long[Numel];
        for (int i = 0; i < r.Length; i++)
        {
            var b = Data.AsSpan(i * size, size);
            if (DType is DType.F32 or DType.F64 or DType.F16 or DType.BF16)
            {
                double v = DType == DType.F64 ? BinaryPrimitives.ReadDoubleLittleEndian(b) : ElementConvert.ReadFloat(b, DType);
                if (v != Math.Floor(v) || double.IsInfinity(v)) throw new ModelFormatException(Source, $"element {i} is {v}, which is not an integer.");
                r[i] = (long)v;
            }
            else r[i] = ElementConvert.ReadLong(b, DType);
        }
        return r;
    }
}

/// <summary>
/// Reads and writes NumPy .npy files: versions 1.0, 2.0 and 3.0; types <c>&lt;f4 &lt;f8 &lt;f2 |u1 |i1 &lt;i4 &lt;i8
/// |b1</c> (and <c>&lt;i2</c>); C or Fortran order.
/// </summary>
public static class Npy
{
    private static readonly byte[] Magic = { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' };
    /// <summary>Largest header accepted.</summary>
    public const int MaxHeaderLength = 1 << 20;

    /// <summary>Reads a file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelFormatException">The file is malformed; the message names the file and the fault.</exception>
    public static NpyArray Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"NumPy file '{path}' does not exist.", path);
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Reads a file as float32.</summary>
    public static Tensor ReadTensor(string path) => Read(path).ToTensor();

    /// <summary>Parses a file's bytes; <paramref name="source"/> names it in errors.</summary>
    public static NpyArray Parse(byte[] bytes, string source)
    {
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic)) throw new ModelFormatException(source, "not a .npy file (wrong magic; expected \\x93NUMPY).");
        int major = bytes[6], minor = bytes[7];
        if (major is < 1 or > 3 || minor != 0) throw new ModelFormatException(source, $"unsupported .npy version {major}.{minor} (supported: 1.0, 2.0, 3.0).");
        int lenSize = major == 1 ? 2 : 4;
        if (bytes.Length < 8 + lenSize) throw new ModelFormatException(source, "truncated before the header length.");
        long hlen = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)) : BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        if (hlen > MaxHeaderLength) throw new ModelFormatException(source, $"header claims {hlen} bytes, more than the {MaxHeaderLength}-byte limit.");
        int start = 8 + lenSize;
        if (start + hlen > bytes.Length) throw new ModelFormatException(source, $"truncated: header claims {hlen} bytes, the file has {bytes.Length - start} after the length field.");
        var enc = major == 3 ? Encoding.UTF8 : Encoding.Latin1;
        string header = enc.GetString(bytes, start, (int)hlen);
        var (descr, fortran, shape) = ParseHeader(header, source);
        var dtype = ParseDescr(descr, source);
        long numel = 1;
        foreach (var d in shape) numel = checked(numel * d);
        int size = DTypeInfo.SizeOf(dtype);
        long dataStart = start + hlen, need = numel * size, have = bytes.Length - dataStart;
        if (have < need) throw new ModelFormatException(source, $"truncated data: shape {Tensor.ShapeString(shape)} of {descr} needs {need} bytes, the file has {have}.");
        if (have > need) throw new ModelFormatException(source, $"{have - need} unexpected bytes after the data of shape {Tensor.ShapeString(shape)}.");
        var data = bytes.AsSpan((int)dataStart, (int)need).ToArray();
        if (fortran && shape.Length > 1) data = Reorder(data, shape, size, toFortran: false);
        return new NpyArray(source, descr, dtype, shape, fortran, major, data);
    }

    private static DType ParseDescr(string d, string source)
    {
        if (d.Length >= 1 && d[0] == '>' && d != ">u1" && d != ">i1" && d != ">b1") throw new ModelFormatException(source, $"big-endian dtype '{d}' is not supported.");
        return d switch
        {
            "<f4" or "=f4" => DType.F32,
            "<f8" or "=f8" => DType.F64,
            "<f2" or "=f2" => DType.F16,
            "|u1" or "<u1" or "=u1" or ">u1" => DType.U8,
            "|i1" or "<i1" or "=i1" or ">i1" => DType.I8,
            "<i2" or "=i2" => DType.I16,
            "<i4" or "=i4" => DType.I32,
            "<i8" or "=i8" => DType.I64,
            "|b1" or "<b1" or ">b1" => DType.Bool,
            _ => throw new ModelFormatException(source, $"unsupported dtype '{d}' (supported: <f4 <f8 <f2 |u1 |i1 <i2 <i4 <i8 |b1)."),
        };
    }

    /// <summary>Parses the Python dict literal with keys descr, fortran_order and shape, in any order.</summary>
    private static (string descr, bool fortran, int[] shape) ParseHeader(string h, string source)
    {
        int i = 0;
        string? descr = null; bool? fortran = null; int[]? shape = null;
        void Ws() { while (i < h.Length && char.IsWhiteSpace(h[i])) i++; }
        ModelFormatException Bad(string what) => new(source, $"malformed header ({what}): {h.TrimEnd()}");
        void Expect(char c) { Ws(); if (i >= h.Length || h[i] != c) throw Bad($"expected '{c}' at {i}"); i++; }
        string Str()
        {
            Ws();
            if (i >= h.Length || (h[i] != '\'' && h[i] != '"')) throw Bad($"expected a string at {i}");
            char q = h[i++]; int s = i;
            while (i < h.Length && h[i] != q) i++;
            if (i >= h.Length) throw Bad("unterminated string");
            return h[s..i++];
        }
        Expect('{');
        while (true)
        {
            Ws();
            if (i < h.Length && h[i] == '}') { i++; break; }
            string key = Str();
            Expect(':'); Ws();
            switch (key)
            {
                case "descr": descr = Str(); break;
                case "fortran_order":
                    if (h.AsSpan(i).StartsWith("True")) { fortran = true; i += 4; }
                    else if (h.AsSpan(i).StartsWith("False")) { fortran = false; i += 5; }
                    else throw Bad("fortran_order must be True or False");
                    break;
                case "shape":
                    Expect('(');
                    var dims = new List<int>();
                    while (true)
                    {
                        Ws();
                        if (i < h.Length && h[i] == ')') { i++; break; }
                        int s = i;
                        while (i < h.Length && char.IsDigit(h[i])) i++;
                        if (s == i || !int.TryParse(h.AsSpan(s, i - s), out int d)) throw Bad("shape must hold non-negative integers");
                        dims.Add(d);
                        Ws();
                        if (i < h.Length && h[i] == ',') i++;
                    }
                    shape = dims.ToArray();
                    break;
                default: throw Bad($"unexpected key '{key}'");
            }
            Ws();
            if (i < h.Length && h[i] == ',') i++;
        }
        if (descr is null || fortran is null || shape is null) throw Bad("missing descr, fortran_order or shape");
        return (descr, fortran.Value, shape);
    }

    /// <summary>Converts between C order and Fortran order element by element.</summary>
    private static byte[] Reorder(byte[] src, int[] shape, int size, bool toFortran)
    {
        int rank = shape.Length, n = shape.Aggregate(1, (a, d) => a * d);
        var fStrides = new int[rank];
        for (int d = 0, acc = 1; d < rank; d++) { fStrides[d] = acc; acc *= shape[d]; }
        var dst = new byte[src.Length];
        var idx = new int[rank];
        int f = 0;
        for (int c = 0; c < n; c++)
        {
            if (toFortran) Buffer.BlockCopy(src, c * size, dst, f * size, size);
            else Buffer.BlockCopy(src, f * size, dst, c * size, size);
            for (int d = rank - 1; d >= 0; d--)
            {
                idx[d]++; f += fStrides[d];
                if (idx[d] < shape[d]) break;
                f -= fStrides[d] * shape[d]; idx[d] = 0;
            }
        }
        return dst;
    }

    /// <summary>Writes a float32 tensor converted to <paramref name="dtype"/>, atomically.</summary>
    public static void Write(string path, Tensor t, DType dtype = DType.F32, bool fortranOrder = false)
    {
        int size = DTypeInfo.SizeOf(dtype);
        var data = new byte[t.Numel * size];
        var vals = t.Contiguous().Span;
        try { for (int i = 0; i < vals.Length; i++) ElementConvert.WriteFloat(data.AsSpan(i * size, size), vals[i], dtype); }
        catch (OverflowException) { throw new ArgumentException($"Tensor has values that do not fit {dtype}."); }
        AtomicFile.WriteAllBytes(path, Serialize(data, dtype, t.Shape, fortranOrder));
    }

    /// <summary>Writes int64 values (e.g. labels), atomically.</summary>
    public static void Write(string path, long[] values, int[] shape, bool fortranOrder = false)
    {
        if (values.Length != shape.Aggregate(1, (a, d) => a * d)) throw new ArgumentException($"{values.Length} values do not fill shape {Tensor.ShapeString(shape)}.");
        var data = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(i * 8), values[i]);
        AtomicFile.WriteAllBytes(path, Serialize(data, DType.I64, shape, fortranOrder));
    }

    /// <summary>The bytes of a .npy file holding row-major <paramref name="cOrderData"/>; version 1.0 unless the header needs 2.0.</summary>
    public static byte[] Serialize(byte[] cOrderData, DType dtype, int[] shape, bool fortranOrder = false)
    {
        string descr = dtype switch
        {
            DType.F32 => "<f4", DType.F64 => "<f8", DType.F16 => "<f2", DType.U8 => "|u1", DType.I8 => "|i1",
            DType.I16 => "<i2", DType.I32 => "<i4", DType.I64 => "<i8", DType.Bool => "|b1",
            _ => throw new ArgumentException($"dtype {dtype} cannot be written to .npy."),
        };
        string shapeStr = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        string dict = $"{{'descr': '{descr}', 'fortran_order': {(fortranOrder ? "True" : "False")}, 'shape': {shapeStr}, }}";
        int version = dict.Length + 1 + 10 > 65535 ? 2 : 1;
        int pre = version == 1 ? 10 : 12;
        int total = (pre + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - pre - 1) + "\n";
        var data = fortranOrder && shape.Length > 1 ? Reorder(cOrderData, shape, DTypeInfo.SizeOf(dtype), toFortran: true) : cOrderData;
        var bytes = new byte[total + data.Length];
        Magic.CopyTo(bytes, 0);
        bytes[6] = (byte)version; bytes[7] = 0;
        if (version == 1) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)header.Length);
        else BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)header.Length);
        Encoding.Latin1.GetBytes(header, bytes.AsSpan(pre));
        data.CopyTo(bytes, total);
        return bytes;
    }
}
