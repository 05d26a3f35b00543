namespace MtlPrune.Engine.NN;

/// <summary>Applies children in order; they are named "0", "1", ... (~ <c>nn.Sequential</c>).</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = new();

    public Sequential(params Module[] layers) { foreach (var l in layers) Add(l); }

    /// <summary>Appends a layer named by its index.</summary>
    public Sequential Add(Module m) { RegisterModule(_layers.Count.ToString(), m); _layers.Add(m); return this; }

    public int Count => _layers.Count;
    public Module this[int i] => _layers[i];

    public override Tensor Forward(Tensor x)
    {
        foreach (var l in _layers) x = l.Forward(x);
        return x;
    }
}

/// <summary>An indexed list of modules named "0", "1", ... (~ <c>nn.ModuleList</c>).</summary>
public sealed class ModuleList : Module
{
    private readonly List<Module> _items = new();

    public ModuleList(params Module[] items) { foreach (var m in items) Add(m); }

    public ModuleList Add(Module m) { RegisterModule(_items.Count.ToString(), m); _items.Add(m); return this; }
    public int Count => _items.Count;
    public Module this[int i] => _items[i];
    public IEnumerable<Module> Items => _items;
}

/// <summary>Modules keyed by name, in insertion order (~ <c>nn.ModuleDict</c>).</summary>
public sealed class ModuleDict : Module
{
    private readonly List<(string Key, Module Module)> _items = new();

    public ModuleDict Add(string key, Module m) { RegisterModule(key, m); _items.Add((key, m)); return this; }
    public int Count => _items.Count;
    public IEnumerable<string> Keys => _items.Select(i => i.Key);

    public Module this[string key] =>
        _items.FirstOrDefault(i => i.Key == key).Module ?? throw new KeyNotFoundException($"ModuleDict has no module '{key}' (has: {string.Join(", ", Keys)}).");
}
