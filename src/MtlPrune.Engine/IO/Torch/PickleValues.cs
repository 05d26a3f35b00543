namespace MtlPrune.Engine.IO.Torch;

/// <summary>A Python tuple.</summary>
public sealed record PyTuple(IReadOnlyList<object?> Items)
{
    public int Count => Items.Count;
    public object? this[int i] => Items[i];
}

/// <summary>A Python dict (insertion-ordered, as OrderedDict and dicts since Python 3.7 are). Keys must be hashable
/// values: strings, integers, booleans, floats, None or tuples of these.</summary>
public sealed class PyDict
{
    private readonly List<KeyValuePair<object?, object?>> _items = new();
    private readonly Dictionary<object, int> _index = new();
    private static readonly object NoneKey = new();

    public IReadOnlyList<KeyValuePair<object?, object?>> Items => _items;
    /// <summary>Instance attributes set by pickle's BUILD (e.g. a state dict's <c>_metadata</c>); kept, never interpreted.</summary>
    public object? State { get; set; }
    public int Count => _items.Count;

    public void Set(object? key, object? value)
    {
        var k = key ?? NoneKey;
        if (_index.TryGetValue(k, out int i)) _items[i] = new(key, value);
        else { _index[k] = _items.Count; _items.Add(new(key, value)); }
    }

    public bool TryGet(object? key, out object? value)
    {
        if (_index.TryGetValue(key ?? NoneKey, out int i)) { value = _items[i].Value; return true; }
        value = null;
        return false;
    }
}

/// <summary>A reference to a Python class or function (pickle's GLOBAL), one of those the reader allows.</summary>
public sealed record PyGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>A storage of a <c>torch.save</c> archive: its element type, its key (<c>data/&lt;key&gt;</c>) and declared element count.</summary>
public sealed record TorchStorage(DType DType, string Key, long Numel);

/// <summary>A tensor rebuilt by <c>torch._utils._rebuild_tensor_v2</c>: a strided view (in elements) of a storage.</summary>
public sealed record TorchTensor(TorchStorage Storage, long Offset, long[] Size, long[] Stride)
{
    public long Numel => Size.Aggregate(1L, (a, b) => a * b);
}
