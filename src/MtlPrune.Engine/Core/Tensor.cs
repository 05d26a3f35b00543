using System.Runtime.CompilerServices;

namespace MtlPrune.Engine;

/// <summary>
/// A float32, row-major n-dimensional array that can take part in reverse-mode automatic
/// differentiation (~ <c>torch.Tensor</c>). Storage is a flat <see cref="float"/> array shared by
/// views; <see cref="Strides"/> describe how a view walks it.
/// </summary>
/// <remarks>
/// Most kernels need a contiguous input and call <see cref="Contiguous"/> first, which copies only
/// when the tensor is a non-contiguous view. Any tensor may require a gradient: weights, but also
/// masks and scalar thresholds, which the pruning methods differentiate with respect to.
/// </remarks>
public sealed partial class Tensor
{
    internal float[] Storage;
    internal int Offset;
    private readonly int[] _shape;
    private readonly int[] _strides;

    /// <summary>Number of elements (~ <c>numel()</c>).</summary>
    public int Numel { get; }

    /// <summary>The tensor's dimensions. Do not modify the returned array.</summary>
    public int[] Shape => _shape;

    /// <summary>Element strides of each dimension, in elements of <see cref="Storage"/>.</summary>
    public int[] Strides => _strides;

    /// <summary>Number of dimensions (~ <c>dim()</c>).</summary>
    public int Rank => _shape.Length;

    /// <summary>Optional name, used in error messages and by modules.</summary>
    public string? Name { get; set; }

    /// <summary>Preferred element type when the tensor is written to a file (the engine computes in float32).</summary>
    public DType FileDType { get; set; } = DType.F32;

    internal Tensor(float[] storage, int offset, int[] shape, int[] strides)
    {
        Storage = storage;
        Offset = offset;
        _shape = shape;
        _strides = strides;
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"Negative dimension in shape {ShapeString(shape)}.");
            n *= d;
        }
        if (n > int.MaxValue) throw new ArgumentException($"Shape {ShapeString(shape)} has more than 2^31-1 elements.");
        Numel = (int)n;
        BufferScope.Track(this);
    }

    private static readonly float[] ReleasedStorage = new float[0];

    /// <summary>True once the <see cref="BufferScope"/> that owned this tensor's buffer has ended.</summary>
    public bool IsReleased => ReferenceEquals(Storage, ReleasedStorage);

    internal void Release() { Storage = ReleasedStorage; Offset = 0; }

    /// <summary>Throws when the tensor's buffer was returned to the pool.</summary>
    internal void EnsureAlive()
    {
        if (IsReleased && Numel > 0)
            throw new ObjectDisposedException(Name ?? $"Tensor{ShapeString(_shape)}",
                "This tensor was created inside a BufferScope that has ended; keep it with BufferScope.Keep(t) or copy it with CloneData() inside the scope.");
    }

    internal Tensor(float[] storage, int[] shape) : this(storage, 0, shape, ContiguousStrides(shape)) { }

    /// <summary>Size of dimension <paramref name="dim"/>; negative values count from the end (~ <c>size(dim)</c>).</summary>
    public int Size(int dim) => _shape[NormalizeDim(dim, Rank)];

    /// <summary>True when the elements are laid out densely in row-major order from <see cref="Offset"/> (always, for an empty tensor).</summary>
    public bool IsContiguous
    {
        get
        {
            if (Numel == 0) return true;
            int expected = 1;
            for (int i = Rank - 1; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != expected) return false;
                expected *= _shape[i];
            }
            return true;
        }
    }

    /// <summary>The elements as a span. Only valid for contiguous tensors.</summary>
    public Span<float> Span
    {
        get
        {
            if (!IsContiguous) throw new InvalidOperationException($"Tensor{ShapeString(_shape)} is a non-contiguous view; call Contiguous() first.");
            EnsureAlive();
            return Storage.AsSpan(Offset, Numel);
        }
    }

    /// <summary>Copies the elements to a new array in row-major order.</summary>
    public float[] ToArray()
    {
        EnsureAlive();
        if (IsContiguous) return Span.ToArray();
        var r = new float[Numel];
        int i = 0;
        foreach (var off in Offsets()) r[i++] = Storage[off];
        return r;
    }

    /// <summary>Reads one element (for tests and small tensors; not for hot loops).</summary>
    [System.Runtime.CompilerServices.IndexerName("At")]
    public float this[params int[] index]
    {
        get => Storage[FlatOffset(index)];
        set => Storage[FlatOffset(index)] = value;
    }

    /// <summary>The value of a one-element tensor (~ <c>item()</c>).</summary>
    public float Item()
    {
        if (Numel != 1) throw new InvalidOperationException($"Item() needs a one-element tensor, got shape {ShapeString(_shape)}.");
        EnsureAlive();
        return Storage[Offset];
    }

    private int FlatOffset(int[] index)
    {
        EnsureAlive();
        if (index.Length != Rank) throw new ArgumentException($"Index of rank {index.Length} for tensor of shape {ShapeString(_shape)}.");
        int off = Offset;
        for (int i = 0; i < index.Length; i++)
        {
            int ix = index[i];
            if (ix < 0) ix += _shape[i];
            if ((uint)ix >= (uint)_shape[i]) throw new IndexOutOfRangeException($"Index {index[i]} out of range for dimension {i} of shape {ShapeString(_shape)}.");
            off += ix * _strides[i];
        }
        return off;
    }

    /// <summary>Storage offsets of every element in row-major order.</summary>
    internal IEnumerable<int> Offsets()
    {
        if (Numel == 0) yield break;
        var idx = new int[Rank];
        int off = Offset;
        for (int n = 0; n < Numel; n++)
        {
            yield return off;
            for (int d = Rank - 1; d >= 0; d--)
            {
                idx[d]++;
                off += _strides[d];
                if (idx[d] < _shape[d]) break;
                off -= _strides[d] * _shape[d];
                idx[d] = 0;
            }
        }
    }

    /// <summary>Row-major strides of a dense tensor of the given shape.</summary>
    public static int[] ContiguousStrides(int[] shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= Math.Max(shape[i], 1); }
        return s;
    }

    /// <summary>Formats a shape as <c>[2, 3, 4]</c> for error messages.</summary>
    public static string ShapeString(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";

    internal static int NormalizeDim(int dim, int rank)
    {
        int d = dim < 0 ? dim + rank : dim;
        if ((uint)d >= (uint)rank) throw new ArgumentOutOfRangeException(nameof(dim), $"Dimension {dim} out of range for a tensor of rank {rank}.");
        return d;
    }

    /// <summary>Allocates an uninitialised contiguous buffer (every caller overwrites all of it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float[] NewBuffer(int n) => BufferScope.Rent(n);

    /// <summary>A new contiguous tensor without autograd history, not initialised.</summary>
    internal static Tensor Empty(int[] shape)
    {
        long n = 1; foreach (var d in shape) n *= d;
        return new Tensor(NewBuffer((int)n), (int[])shape.Clone());
    }

    /// <summary>
    /// A tensor whose buffer comes from the pool but belongs to no scope (<paramref name="pooled"/>): its owner returns it
    /// explicitly (leaf gradients, via <see cref="RecycleGrad"/>).
    /// </summary>
    internal static Tensor Empty(int[] shape, bool pooled)
    {
        if (!pooled) return Empty(shape);
        long n = 1; foreach (var d in shape) n *= d;
        return new Tensor(n == 0 ? Array.Empty<float>() : BufferPool.Rent((int)n), (int[])shape.Clone());
    }

    public override string ToString()
    {
        var head = $"Tensor{ShapeString(_shape)}";
        if (Numel > 16) return head;
        return head + " {" + string.Join(", ", ToArray().Select(v => v.ToString("G5", System.Globalization.CultureInfo.InvariantCulture))) + "}";
    }
}
