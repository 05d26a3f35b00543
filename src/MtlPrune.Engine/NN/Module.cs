namespace MtlPrune.Engine.NN;

/// <summary>
/// Base of all layers and models (~ <c>torch.nn.Module</c>). Parameters, buffers and children are registered
/// explicitly, in order, so names follow PyTorch's dotted convention (<c>layer1.0.conv1.weight</c>) and no
/// reflection is needed.
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Tensor? Tensor)> _parameters = new();
    private readonly List<(string Name, Tensor? Tensor)> _buffers = new();
    private readonly List<(string Name, Module Module)> _children = new();

    /// <summary>True in training mode (batch statistics, dropout active), false after <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Applies the module to one input. Modules with other signatures (multi-task models) define their own.</summary>
    public virtual Tensor Forward(Tensor x) => throw new NotSupportedException($"{GetType().Name} has no single-tensor Forward.");

    /// <summary>Registers a trainable tensor; it is set to require grad (~ <c>register_parameter</c>).</summary>
    protected Tensor RegisterParameter(string name, Tensor t)
    {
        CheckName(name);
        t.RequiresGrad = true;
        t.Name = name;
        BufferScope.Keep(t);
        _parameters.Add((name, t));
        return t;
    }

    /// <summary>Registers an absent optional parameter (e.g. no bias), which state dicts skip.</summary>
    protected void RegisterNullParameter(string name) { CheckName(name); _parameters.Add((name, null)); }

    /// <summary>Registers persistent state that is not trained, e.g. running statistics (~ <c>register_buffer</c>).</summary>
    protected Tensor RegisterBuffer(string name, Tensor t)
    {
        CheckName(name);
        t.Name = name;
        BufferScope.Keep(t);
        _buffers.Add((name, t));
        return t;
    }

    /// <summary>Registers a child module (~ <c>add_module</c>).</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        _children.Add((name, module));
        return module;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.')) throw new ArgumentException($"Invalid member name '{name}': it must be non-empty and contain no '.'.");
        if (_parameters.Any(p => p.Name == name) || _buffers.Any(b => b.Name == name) || _children.Any(c => c.Name == name))
            throw new ArgumentException($"{GetType().Name} already has a member named '{name}'.");
    }

    /// <summary>Direct children with their names (~ <c>named_children</c>).</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren() => _children;

    /// <summary>This module and all descendants with dotted names; the root has name "" (~ <c>named_modules</c>).</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (n, m) in _children)
            foreach (var x in m.NamedModules(prefix.Length == 0 ? n : prefix + "." + n)) yield return x;
    }

    /// <summary>All parameters with dotted names, depth first in registration order (~ <c>named_parameters</c>).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedParameters(bool recurse = true)
    {
        foreach (var (prefix, m) in recurse ? NamedModules() : new[] { ("", this) })
            foreach (var (n, t) in m._parameters)
                if (t is not null) yield return (Join(prefix, n), t);
    }

    /// <summary>All parameter tensors (~ <c>parameters</c>).</summary>
    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Tensor);

    /// <summary>All buffers with dotted names (~ <c>named_buffers</c>).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedBuffers(bool recurse = true)
    {
        foreach (var (prefix, m) in recurse ? NamedModules() : new[] { ("", this) })
            foreach (var (n, t) in m._buffers)
                if (t is not null) yield return (Join(prefix, n), t);
    }

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    /// <summary>Sets training mode on this module and all descendants (~ <c>train(mode)</c>).</summary>
    public Module Train(bool mode = true)
    {
        foreach (var (_, m) in NamedModules()) m.Training = mode;
        return this;
    }

    /// <summary>Evaluation mode (~ <c>eval()</c>).</summary>
    public Module Eval() => Train(false);

    /// <summary>Clears every parameter's gradient (~ <c>zero_grad(set_to_none=True)</c>), recycling buffers autograd allocated.</summary>
    public void ZeroGrad() { foreach (var p in Parameters()) p.RecycleGrad(); }

    /// <summary>Stops (or restarts) gradient flow to all parameters, e.g. to freeze a backbone (~ <c>requires_grad_(False)</c>).</summary>
    public void SetRequiresGrad(bool value) { foreach (var p in Parameters()) p.RequiresGrad = value; }

    /// <summary>Number of parameter elements.</summary>
    public long ParameterCount() => Parameters().Sum(p => (long)p.Numel);

    /// <summary>
    /// Parameters then buffers of each module, depth first, keyed by dotted name (~ <c>state_dict</c>).
    /// The tensors are the live ones, not copies.
    /// </summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (prefix, m) in NamedModules())
        {
            foreach (var (n, t) in m._parameters) if (t is not null) d[Join(prefix, n)] = t;
            foreach (var (n, t) in m._buffers) if (t is not null) d[Join(prefix, n)] = t;
        }
        return d;
    }

    /// <summary>
    /// Copies values into this module's tensors in place, so optimizers keep pointing at them (~
    /// <c>load_state_dict</c>). With <paramref name="strict"/>, any missing key, unexpected key or shape mismatch
    /// throws <see cref="StateDictException"/> before anything is copied; otherwise matching entries are loaded
    /// and the rest reported.
    /// </summary>
    public LoadResult LoadStateDict(IReadOnlyDictionary<string, Tensor> source, bool strict = true)
    {
        var own = StateDict();
        var missing = own.Keys.Where(k => !source.ContainsKey(k)).ToList();
        var unexpected = source.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var mismatched = own.Where(kv => source.TryGetValue(kv.Key, out var s) && !Autograd.SameShape(s.Shape, kv.Value.Shape))
            .Select(kv => $"{kv.Key}: checkpoint {Tensor.ShapeString(source[kv.Key].Shape)}, model {Tensor.ShapeString(kv.Value.Shape)}").ToList();
        var result = new LoadResult(missing, unexpected, mismatched);
        if (strict && !result.IsClean) throw new StateDictException(result);
        foreach (var (k, t) in own)
            if (source.TryGetValue(k, out var s) && Autograd.SameShape(s.Shape, t.Shape)) t.CopyFrom(s);
        return result;
    }
}

/// <summary>What <see cref="Module.LoadStateDict"/> found (~ PyTorch's <c>_IncompatibleKeys</c>).</summary>
public sealed record LoadResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys, IReadOnlyList<string> ShapeMismatches)
{
    public bool IsClean => MissingKeys.Count == 0 && UnexpectedKeys.Count == 0 && ShapeMismatches.Count == 0;

    public override string ToString()
    {
        var parts = new List<string>();
        if (MissingKeys.Count > 0) parts.Add("missing keys: " + string.Join(", ", MissingKeys));
        if (UnexpectedKeys.Count > 0) parts.Add("unexpected keys: " + string.Join(", ", UnexpectedKeys));
        if (ShapeMismatches.Count > 0) parts.Add("shape mismatches: " + string.Join("; ", ShapeMismatches));
        return parts.Count == 0 ? "all keys matched" : string.Join("; ", parts);
    }
}

/// <summary>A strict state-dict load found missing or unexpected keys or shape mismatches.</summary>
public sealed class StateDictException(LoadResult result) : Exception("State dict does not match the model: " + result)
{
    public LoadResult Result { get; } = result;
}
