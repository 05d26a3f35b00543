using System.Text;

namespace MtlPrune.Engine.IO.Torch;

/// <summary>
/// A file written by <c>torch.save</c> in the zip format (PyTorch 1.6 and later): <c>&lt;prefix&gt;/data.pkl</c> holds
/// the pickled object, whose tensors point at raw little-endian storages <c>&lt;prefix&gt;/data/&lt;key&gt;</c>. The
/// pickle is read by the restricted <see cref="PickleReader"/>; tensors are materialised on demand by
/// <see cref="Materialize"/>, each storage read once. The legacy (pre-1.6) format and TorchScript
/// archives are refused with a message that says how to re-save.
/// </summary>
public sealed class TorchArchive : IDisposable
{
    private readonly ZipReader _zip;
    private readonly string _prefix;
    private readonly Dictionary<string, byte[]> _storages = new();
    private readonly Dictionary<string, ZipEntry> _byName;

    public string Source { get; }
    /// <summary>The unpickled object (a <see cref="PyDict"/> for a state dict).</summary>
    public object? Root { get; }

    private TorchArchive(ZipReader zip, string prefix, object? root, string source)
    {
        _zip = zip; _prefix = prefix; Root = root; Source = source;
        _byName = zip.Entries.ToDictionary(e => e.Name);
    }

    public void Dispose() => _zip.Dispose();

    /// <summary>True when the file starts like a <c>torch.save</c> file (zip, or the legacy pickle).</summary>
    public static bool LooksLikeTorch(ReadOnlySpan<byte> head) => ZipReader.LooksLikeZip(head) || IsLegacy(head);

    private static bool IsLegacy(ReadOnlySpan<byte> head) =>
        head.Length >= 4 && head[0] == 0x80 && head[1] == 0x02 && head[2] == 0x8a && head[3] == 0x0a;   // PROTO 2, LONG1 10: the legacy magic number

    /// <summary>Opens and unpickles a file.</summary>
    /// <exception cref="ModelFormatException">Not a readable torch.save zip file; the message names the file and the fault.</exception>
    public static TorchArchive Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"PyTorch file '{path}' does not exist.", path);
        var fs = File.OpenRead(path);
        try { return Open(fs, path); }
        catch { fs.Dispose(); throw; }
    }

    /// <summary>Opens and unpickles an archive from a seekable stream, which it then owns; <paramref name="source"/> names it in errors.</summary>
    public static TorchArchive Open(Stream stream, string source)
    {
        var head = new byte[512];
        stream.Position = 0;
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (IsLegacy(head.AsSpan(0, n)))
            throw new ModelFormatException(source, "this is PyTorch's legacy (pre-1.6) serialization format, which this reader does not support. Re-save it with PyTorch 1.6 or later: torch.save(torch.load(old_path), new_path) (the zip format is the default).");
        if (n >= 262 && Encoding.ASCII.GetString(head, 257, 5) == "ustar")
            throw new ModelFormatException(source, "this is a tar archive (PyTorch's oldest format); re-save it with torch.save(torch.load(old_path), new_path) in PyTorch 1.6 or later.");
        if (!ZipReader.LooksLikeZip(head.AsSpan(0, n)))
            throw new ModelFormatException(source, "not a PyTorch checkpoint: a torch.save file is a zip archive (it starts with 'PK').");
        var zip = new ZipReader(stream, source);
        try
        {
            var pkls = zip.Entries.Where(e => e.Name.EndsWith("/data.pkl") && e.Name.IndexOf('/') == e.Name.Length - "/data.pkl".Length).ToList();
            if (zip.Entries.Any(e => e.Name.EndsWith("/constants.pkl")) || zip.Entries.Any(e => e.Name.Contains("/code/")))
                throw new ModelFormatException(source, "this is a TorchScript archive (torch.jit.save), which holds code; save the model's state dict instead: torch.save(model.state_dict(), path).");
            if (pkls.Count != 1) throw new ModelFormatException(source, $"a torch.save archive has one '<name>/data.pkl'; this zip has {pkls.Count}.");
            string prefix = pkls[0].Name[..^"data.pkl".Length];
            var order = zip.Entries.FirstOrDefault(e => e.Name == prefix + "byteorder");
            if (order is not null && Encoding.ASCII.GetString(zip.Read(order)).Trim() != "little")
                throw new ModelFormatException(source, "the archive stores big-endian storages; only little-endian files are supported.");
            var root = PickleReader.Load(zip.Read(pkls[0]), source);
            return new TorchArchive(zip, prefix, root, source);
        }
        catch { zip.Dispose(); throw; }
    }

    /// <summary>The bytes of storage <paramref name="s"/>, checked against what tensor <paramref name="tensorName"/> declares.</summary>
    private byte[] StorageBytes(TorchStorage s, string tensorName)
    {
        if (!_byName.TryGetValue(_prefix + "data/" + s.Key, out var entry))
            throw new ModelFormatException(Source, $"tensor '{tensorName}' refers to storage '{s.Key}', which the archive does not contain.");
        long need;
        try { need = checked(s.Numel * DTypeInfo.SizeOf(s.DType)); }
        catch (OverflowException) { throw new ModelFormatException(Source, $"storage '{s.Key}' declares {s.Numel} elements, which overflows."); }
        // Checked on every reference: two references to one storage may declare different types or sizes.
        if (entry.Size != need)
            throw new ModelFormatException(Source, $"storage '{s.Key}' (read for tensor '{tensorName}') declares {s.Numel} {s.DType} elements ({need} bytes) but holds {entry.Size} bytes.");
        if (_storages.TryGetValue(s.Key, out var b)) return b;
        b = _zip.Read(entry);
        _storages[s.Key] = b;
        return b;
    }

    /// <summary>The tensor as float32 (its file type kept in <see cref="Tensor.FileDType"/>), after checking that it lies within its storage.</summary>
    /// <exception cref="ModelFormatException">The view reaches outside its storage, or the storage is missing or damaged.</exception>
    public Tensor Materialize(TorchTensor t, string name)
    {
        var s = t.Storage;
        if (t.Size.Length > 8) throw new ModelFormatException(Source, $"tensor '{name}' has {t.Size.Length} dimensions; at most 8 are supported.");
        long numel = 1, last = t.Offset;
        try
        {
            foreach (var d in t.Size) numel = checked(numel * d);
            if (numel > 0) for (int i = 0; i < t.Size.Length; i++) last = checked(last + (t.Size[i] - 1) * t.Stride[i]);
        }
        catch (OverflowException) { throw new ModelFormatException(Source, $"tensor '{name}' has a shape or strides that overflow."); }
        if (numel > int.MaxValue) throw new ModelFormatException(Source, $"tensor '{name}' has {numel} elements, more than one tensor can hold (2^31 - 1).");
        if (numel > 0 && (t.Offset >= s.Numel || last >= s.Numel))
            throw new ModelFormatException(Source, $"tensor '{name}' (shape [{string.Join(", ", t.Size)}], offset {t.Offset}) reads element {last}, beyond its storage '{s.Key}' of {s.Numel} elements.");
        var shape = t.Size.Select(d => (int)d).ToArray();
        var result = Engine.Tensor.Empty(shape);
        result.FileDType = s.DType;
        result.Name = name;
        if (numel == 0) return result;                    // nothing to read: the offset does not matter
        var bytes = StorageBytes(s, name);
        var dst = result.Span;
        int size = DTypeInfo.SizeOf(s.DType);
        bool contiguous = true;
        long expect = 1;
        for (int i = t.Size.Length - 1; i >= 0; i--) { if (t.Size[i] != 1 && t.Stride[i] != expect) contiguous = false; expect *= t.Size[i]; }
        if (contiguous) ElementConvert.ToFloats(bytes.AsSpan((int)(t.Offset * size), (int)numel * size), s.DType, dst);
        else
        {
            var index = new long[t.Size.Length];
            for (int k = 0; k < numel; k++)
            {
                long off = t.Offset;
                for (int i = 0; i < index.Length; i++) off += index[i] * t.Stride[i];
                dst[k] = ElementConvert.ReadFloat(bytes.AsSpan((int)(off * size), size), s.DType);
                for (int i = index.Length - 1; i >= 0; i--) { if (++index[i] < t.Size[i]) break; index[i] = 0; }
            }
        }
        result.FileDType = s.DType;
        result.Name = name;
        return result;
    }
}
