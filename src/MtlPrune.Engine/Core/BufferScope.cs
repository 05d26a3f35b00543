namespace MtlPrune.Engine;

/// <summary>
/// A scope whose tensor buffers come from a pool and go back to it when the scope ends, so a steady-state training
/// step allocates almost nothing:
/// <code>using (BufferScope.Begin()) { opt.ZeroGrad(); var loss = ...; loss.Backward(); opt.Step(); }</code>
/// Every tensor created inside the scope is released at its end; using one afterwards throws
/// <see cref="ObjectDisposedException"/> instead of reading recycled memory. Parameters and buffers registered by
/// modules, leaf gradients (<see cref="Tensor.Grad"/>) and tensors passed to <see cref="Keep"/> survive.
/// Scopes nest; each belongs to the thread that began it.
/// </summary>
public sealed class BufferScope : IDisposable
{
    [ThreadStatic] private static BufferScope? _current;
    private readonly BufferScope? _parent;
    private readonly HashSet<float[]> _rented = new(ReferenceEqualityComparer.Instance);
    private readonly List<Tensor> _tensors = new();
    private bool _disposed;

    private BufferScope(BufferScope? parent) => _parent = parent;

    /// <summary>The innermost active scope of this thread, or null.</summary>
    public static BufferScope? Current => _current;

    /// <summary>Starts a scope on this thread; dispose it to release its buffers.</summary>
    public static BufferScope Begin() => _current = new BufferScope(_current);

    /// <summary>Bytes currently parked in the pool for reuse.</summary>
    public static long PooledBytes => BufferPool.PooledBytes;

    internal static float[] Rent(int n)
    {
        var s = _current;
        if (s is null || n == 0) return n == 0 ? Array.Empty<float>() : GC.AllocateUninitializedArray<float>(n);
        var a = BufferPool.Rent(n);
        s._rented.Add(a);
        return a;
    }

    internal static void Track(Tensor t) => _current?._tensors.Add(t);

    /// <summary>
    /// Moves <paramref name="t"/>'s buffer out of every enclosing scope so it outlives them (views of it survive too).
    /// Returns <paramref name="t"/>.
    /// </summary>
    public static Tensor Keep(Tensor t)
    {
        for (var s = _current; s is not null; s = s._parent) s._rented.Remove(t.Storage);
        return t;
    }

    /// <summary>Releases the scope's buffers to the pool and invalidates the tensors created in it.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        if (_current != this) throw new InvalidOperationException("BufferScopes must be disposed in reverse order of creation, on the thread that began them.");
        _disposed = true;
        _current = _parent;
        foreach (var t in _tensors)
            if (_rented.Contains(t.Storage)) t.Release();
        foreach (var a in _rented) BufferPool.Return(a);
        _rented.Clear(); _tensors.Clear();
    }
}

/// <summary>Exact-size free lists of float buffers, shared by all threads, bounded in total size.</summary>
internal static class BufferPool
{
    private const long MaxPooledBytes = 4L << 30;
    private static readonly Dictionary<int, Stack<float[]>> Free = new();
    private static long _pooledBytes;

    public static long PooledBytes { get { lock (Free) return _pooledBytes; } }

    public static float[] Rent(int n)
    {
        lock (Free)
        {
            if (Free.TryGetValue(n, out var st) && st.Count > 0) { _pooledBytes -= 4L * n; return st.Pop(); }
        }
        return GC.AllocateUninitializedArray<float>(n);
    }

    public static void Return(float[] a)
    {
        lock (Free)
        {
            if (_pooledBytes + 4L * a.Length > MaxPooledBytes) return;
            if (!Free.TryGetValue(a.Length, out var st)) Free[a.Length] = st = new Stack<float[]>();
            st.Push(a);
            _pooledBytes += 4L * a.Length;
        }
    }
}
