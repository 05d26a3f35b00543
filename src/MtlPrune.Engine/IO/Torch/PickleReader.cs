using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace MtlPrune.Engine.IO.Torch;

/// <summary>
/// A restricted unpickler for PyTorch state dicts (~ <c>torch.load(weights_only=True)</c>): it executes nothing. It
/// builds values for the binary opcodes of protocols 1-5 listed in <see cref="Opcodes"/>, and allows only the globals
/// state dicts need: <c>collections.OrderedDict</c>, <c>torch._utils._rebuild_tensor_v2</c> (and <c>_rebuild_tensor</c>,
/// <c>_rebuild_parameter</c>, <c>_rebuild_parameter_with_state</c>) and the typed storage classes (<c>torch.FloatStorage</c>
/// ...). Any other global, opcode or persistent id is refused with a <see cref="ModelFormatException"/> that names it
/// and its byte offset. Every length is checked against the remaining input before it is used, so a malformed pickle
/// cannot make it allocate more than its own size or loop.
/// </summary>
public sealed class PickleReader
{
    private static readonly Dictionary<string, DType> StorageTypes = new()
    {
        ["FloatStorage"] = DType.F32, ["DoubleStorage"] = DType.F64, ["HalfStorage"] = DType.F16, ["BFloat16Storage"] = DType.BF16,
        ["LongStorage"] = DType.I64, ["IntStorage"] = DType.I32, ["ShortStorage"] = DType.I16, ["CharStorage"] = DType.I8,
        ["ByteStorage"] = DType.U8, ["BoolStorage"] = DType.Bool,
    };

    private static readonly HashSet<string> Functions = new()
    {
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    };

    /// <summary>The opcodes this reader understands, by code, with pickle's names.</summary>
    public static readonly IReadOnlyDictionary<byte, string> Opcodes = new Dictionary<byte, string>
    {
        [0x80] = "PROTO", [0x95] = "FRAME", [(byte)'.'] = "STOP", [(byte)'('] = "MARK", [(byte)'0'] = "POP", [(byte)'1'] = "POP_MARK",
        [(byte)'2'] = "DUP", [(byte)'N'] = "NONE", [0x88] = "NEWTRUE", [0x89] = "NEWFALSE", [(byte)'J'] = "BININT", [(byte)'K'] = "BININT1",
        [(byte)'M'] = "BININT2", [0x8a] = "LONG1", [0x8b] = "LONG4", [(byte)'G'] = "BINFLOAT", [(byte)'X'] = "BINUNICODE",
        [0x8c] = "SHORT_BINUNICODE", [0x8d] = "BINUNICODE8", [(byte)'T'] = "BINSTRING", [(byte)'U'] = "SHORT_BINSTRING",
        [(byte)'B'] = "BINBYTES", [(byte)'C'] = "SHORT_BINBYTES", [0x8e] = "BINBYTES8", [(byte)')'] = "EMPTY_TUPLE", [(byte)'t'] = "TUPLE",
        [0x85] = "TUPLE1", [0x86] = "TUPLE2", [0x87] = "TUPLE3", [(byte)']'] = "EMPTY_LIST", [(byte)'l'] = "LIST", [(byte)'a'] = "APPEND",
        [(byte)'e'] = "APPENDS", [(byte)'}'] = "EMPTY_DICT", [(byte)'d'] = "DICT", [(byte)'s'] = "SETITEM", [(byte)'u'] = "SETITEMS",
        [0x8f] = "EMPTY_SET", [0x90] = "ADDITEMS", [0x91] = "FROZENSET", [(byte)'h'] = "BINGET", [(byte)'j'] = "LONG_BINGET",
        [(byte)'q'] = "BINPUT", [(byte)'r'] = "LONG_BINPUT", [0x94] = "MEMOIZE", [(byte)'c'] = "GLOBAL", [0x93] = "STACK_GLOBAL",
        [(byte)'R'] = "REDUCE", [0x81] = "NEWOBJ", [(byte)'b'] = "BUILD", [(byte)'Q'] = "BINPERSID",
    };

    private readonly byte[] _data;
    private readonly string _source;
    private int _pos;
    private readonly List<object?> _stack = new();
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();
    private int _opStart;

    private PickleReader(byte[] data, string source) { _data = data; _source = source; }

    /// <summary>Unpickles <paramref name="data"/>; <paramref name="source"/> names it in errors.</summary>
    public static object? Load(byte[] data, string source) => new PickleReader(data, source).Run();

    private ModelFormatException Bad(string fault) => new(_source, $"pickle: {fault} (at byte {_opStart}).");

    private ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > _data.Length - _pos) throw Bad($"needs {n} more bytes but only {_data.Length - _pos} remain (truncated?)");
        var s = _data.AsSpan(_pos, (int)n);
        _pos += (int)n;
        return s;
    }

    private byte U8() => Take(1)[0];
    private int U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
    private uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    private long I64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    private void Push(object? v) => _stack.Add(v);

    private object? Pop()
    {
        int floor = _marks.Count > 0 ? _marks.Peek() : 0;
        if (_stack.Count <= floor) throw Bad("stack underflow");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Top() => _stack.Count > (_marks.Count > 0 ? _marks.Peek() : 0) ? _stack[^1] : throw Bad("stack underflow");

    private List<object?> PopToMark()
    {
        if (_marks.Count == 0) throw Bad("no MARK on the stack");
        int m = _marks.Pop();
        var items = _stack.GetRange(m, _stack.Count - m);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    private string Utf8(ReadOnlySpan<byte> b)
    {
        try { return new UTF8Encoding(false, true).GetString(b); }
        catch (DecoderFallbackException) { throw Bad("string is not valid UTF-8"); }
    }

    private object? Run()
    {
        while (true)
        {
            _opStart = _pos;
            if (_pos >= _data.Length) throw Bad("ends without a STOP opcode (truncated?)");
            byte op = _data[_pos++];
            switch (op)
            {
                case 0x80: { int v = U8(); if (v > 5) throw Bad($"protocol {v} is newer than 5"); break; }     // PROTO
                case 0x95: I64(); break;                                                                         // FRAME: everything is in memory
                case (byte)'.': { var r = Pop(); if (_stack.Count != 0 || _marks.Count != 0) throw Bad("STOP with values left on the stack"); return r; }
                case (byte)'(': _marks.Push(_stack.Count); break;                                               // MARK
                case (byte)'0': Pop(); break;                                                                    // POP
                case (byte)'1': PopToMark(); break;                                                              // POP_MARK
                case (byte)'2': Push(Top()); break;                                                              // DUP
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;                                                                    // NEWTRUE
                case 0x89: Push(false); break;                                                                   // NEWFALSE
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;              // BININT
                case (byte)'K': Push((long)U8()); break;                                                         // BININT1
                case (byte)'M': Push((long)U16()); break;                                                        // BININT2
                case 0x8a: Push(Long(U8())); break;                                                              // LONG1
                case 0x8b: Push(Long(BinaryPrimitives.ReadInt32LittleEndian(Take(4)))); break;                   // LONG4
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;                      // BINFLOAT
                case (byte)'X': Push(Utf8(Take(U32()))); break;                                                  // BINUNICODE
                case 0x8c: Push(Utf8(Take(U8()))); break;                                                        // SHORT_BINUNICODE
                case 0x8d: Push(Utf8(Take(I64()))); break;                                                       // BINUNICODE8
                case (byte)'T': Push(Encoding.Latin1.GetString(Take(BinaryPrimitives.ReadInt32LittleEndian(Take(4))))); break;   // BINSTRING
                case (byte)'U': Push(Encoding.Latin1.GetString(Take(U8()))); break;                              // SHORT_BINSTRING
                case (byte)'B': Push(Take(U32()).ToArray()); break;                                              // BINBYTES
                case (byte)'C': Push(Take(U8()).ToArray()); break;                                               // SHORT_BINBYTES
                case 0x8e: Push(Take(I64()).ToArray()); break;                                                   // BINBYTES8
                case (byte)')': Push(new PyTuple(Array.Empty<object?>())); break;                                // EMPTY_TUPLE
                case (byte)'t': Push(new PyTuple(PopToMark())); break;                                           // TUPLE
                case 0x85: { var a = Pop(); Push(new PyTuple(new[] { a })); break; }                             // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); Push(new PyTuple(new[] { a, b })); break; }           // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new PyTuple(new[] { a, b, c })); break; }   // TUPLE3
                case (byte)']': Push(new List<object?>()); break;                                                // EMPTY_LIST
                case (byte)'l': Push(PopToMark()); break;                                                        // LIST
                case (byte)'a': { var v = Pop(); List(Top()).Add(v); break; }                                    // APPEND
                case (byte)'e': { var items = PopToMark(); List(Top()).AddRange(items); break; }                 // APPENDS
                case (byte)'}': Push(new PyDict()); break;                                                       // EMPTY_DICT
                case (byte)'d': { var items = PopToMark(); var d = new PyDict(); SetItems(d, items); Push(d); break; }   // DICT
                case (byte)'s': { var v = Pop(); var k = Pop(); Dict(Top()).Set(Key(k), v); break; }             // SETITEM
                case (byte)'u': { var items = PopToMark(); SetItems(Dict(Top()), items); break; }                // SETITEMS
                case 0x8f: Push(new HashSetValue()); break;                                                      // EMPTY_SET
                case 0x90: { var items = PopToMark(); if (Top() is not HashSetValue s) throw Bad("ADDITEMS on a non-set"); s.Items.AddRange(items); break; }
                case 0x91: { var s = new HashSetValue(); s.Items.AddRange(PopToMark()); Push(s); break; }       // FROZENSET
                case (byte)'h': Push(Get(U8())); break;                                                          // BINGET
                case (byte)'j': Push(Get(U32())); break;                                                         // LONG_BINGET
                case (byte)'q': _memo[U8()] = Top(); break;                                                      // BINPUT
                case (byte)'r': _memo[U32()] = Top(); break;                                                     // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Top(); break;                                                    // MEMOIZE
                case (byte)'c': { var module = Line(); var name = Line(); Push(Global(module, name)); break; }  // GLOBAL
                case 0x93: { var name = Pop() as string; var module = Pop() as string; if (module is null || name is null) throw Bad("STACK_GLOBAL needs two strings"); Push(Global(module, name)); break; }
                case (byte)'R': { var args = Pop(); var f = Pop(); Push(Call(f, args)); break; }                 // REDUCE
                case 0x81: { var args = Pop(); var cls = Pop(); Push(Call(cls, args)); break; }                  // NEWOBJ
                case (byte)'b': { var state = Pop(); if (Top() is PyDict d) d.State = state; else throw Bad($"BUILD on a {Describe(Top())} is not allowed"); break; }
                case (byte)'Q': Push(Persistent(Pop())); break;                                                  // BINPERSID
                default: throw Bad($"opcode 0x{op:x2} ('{(op >= 32 && op < 127 ? (char)op : '?')}') is not supported by this restricted reader");
            }
        }
    }

    private object? Get(long key) => _memo.TryGetValue(key, out var v) ? v : throw Bad($"memo key {key} was never stored");

    private string Line()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0) throw Bad("GLOBAL name has no terminating newline");
        var s = Encoding.ASCII.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    private object Long(long n)
    {
        if (n < 0) throw Bad($"negative integer length {n}");
        var b = Take(n);
        if (n > 8)
        {
            var big = new BigInteger(b, isUnsigned: false, isBigEndian: false);
            if (big < long.MinValue || big > long.MaxValue) throw Bad($"integer of {n} bytes does not fit 64 bits");
            return (long)big;
        }
        long v = 0;
        for (int i = (int)n - 1; i >= 0; i--) v = (v << 8) | b[i];
        if (n > 0 && n < 8 && (b[(int)n - 1] & 0x80) != 0) v -= 1L << (int)(8 * n);    // two's complement sign
        return v;
    }

    private object Key(object? k) => k switch
    {
        string or long or bool or double or null => k!,
        PyTuple t when t.Items.All(i => i is string or long or bool or double or null) => string.Join("\u0000", t.Items),
        _ => throw Bad($"dict key of type {Describe(k)} is not supported"),
    };

    private void SetItems(PyDict d, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Bad("SETITEMS with an odd number of values");
        for (int i = 0; i < items.Count; i += 2) d.Set(Key(items[i]), items[i + 1]);
    }

    private List<object?> List(object? v) => v as List<object?> ?? throw Bad($"APPEND to a {Describe(v)}");
    private PyDict Dict(object? v) => v as PyDict ?? throw Bad($"SETITEM on a {Describe(v)}");

    private PyGlobal Global(string module, string name)
    {
        var full = $"{module}.{name}";
        if (module == "torch" && StorageTypes.ContainsKey(name)) return new PyGlobal(module, name);
        if (Functions.Contains(full)) return new PyGlobal(module, name);
        if (module == "__main__" || (name.Length > 0 && char.IsUpper(name[0]) && !module.StartsWith("torch._utils")))
            throw Bad($"global '{full}' is not allowed: the file pickles objects of class '{full}', not just a state dict. Save with torch.save(model.state_dict(), path) instead of torch.save(model, path)");
        throw Bad($"global '{full}' is not allowed: only OrderedDict, torch._utils tensor rebuilders and torch storage types may appear in a state dict");
    }

    private object? Call(object? f, object? args)
    {
        if (f is not PyGlobal g) throw Bad($"call of a {Describe(f)}");
        if (args is not PyTuple a) throw Bad($"call of {g} with arguments that are not a tuple");
        switch (g.ToString())
        {
            case "collections.OrderedDict":
                {
                    var d = new PyDict();
                    if (a.Count == 1 && a[0] is List<object?> pairs)
                        foreach (var p in pairs)
                            if (p is PyTuple { Count: 2 } kv) d.Set(Key(kv[0]), kv[1]); else throw Bad("OrderedDict argument is not a list of pairs");
                    else if (a.Count != 0) throw Bad($"OrderedDict called with {a.Count} arguments");
                    return d;
                }
            case "torch._utils._rebuild_tensor_v2":
            case "torch._utils._rebuild_tensor":
                {
                    if (a.Count < 4) throw Bad($"{g.Name} needs at least 4 arguments, got {a.Count}");
                    if (a[0] is not TorchStorage s) throw Bad($"{g.Name}: first argument is a {Describe(a[0])}, not a storage");
                    if (a[1] is not long offset || offset < 0) throw Bad($"{g.Name}: storage offset is not a non-negative integer");
                    var size = Ints(a[2], "size"); var stride = Ints(a[3], "stride");
                    if (size.Length != stride.Length) throw Bad($"{g.Name}: size has {size.Length} dimensions, stride {stride.Length}");
                    return new TorchTensor(s, offset, size, stride);
                }
            case "torch._utils._rebuild_parameter":
            case "torch._utils._rebuild_parameter_with_state":
                if (a.Count < 1 || a[0] is not TorchTensor t) throw Bad($"{g.Name}: first argument is not a tensor");
                return t;
            default:
                throw Bad($"{g} cannot be called");
        }
    }

    private long[] Ints(object? v, string what)
    {
        if (v is not PyTuple t) throw Bad($"tensor {what} is a {Describe(v)}, not a tuple");
        var r = new long[t.Count];
        for (int i = 0; i < r.Length; i++)
            r[i] = t[i] is long x && x >= 0 ? x : throw Bad($"tensor {what} holds {Describe(t[i])}, not a non-negative integer");
        return r;
    }

    private TorchStorage Persistent(object? pid)
    {
        if (pid is not PyTuple { Count: 5 } t || t[0] is not "storage")
            throw Bad($"persistent id {Describe(pid)} is not a torch storage ('storage', type, key, location, numel)");
        if (t[1] is not PyGlobal { Module: "torch" } g || !StorageTypes.TryGetValue(g.Name, out var dtype)) throw Bad($"storage type {Describe(t[1])} is not supported");
        if (t[2] is not string key || key.Length == 0 || key.Contains('/') || key.Contains('\\') || key.Contains("..")) throw Bad($"storage key {Describe(t[2])} is not a plain name");
        if (t[4] is not long numel || numel < 0) throw Bad("storage element count is not a non-negative integer");
        return new TorchStorage(dtype, key, numel);
    }

    private static string Describe(object? v) => v switch
    {
        null => "None",
        string s => $"'{(s.Length > 40 ? s[..40] + "…" : s)}'",
        long or bool or double => $"{v}",
        PyTuple t => $"tuple of {t.Count}",
        PyGlobal g => g.ToString(),
        _ => v.GetType().Name,
    };

    /// <summary>A Python set or frozenset (items kept in order; never interpreted).</summary>
    public sealed class HashSetValue { public List<object?> Items { get; } = new(); }
}
