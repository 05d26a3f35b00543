using System.Buffers.Binary;
using System.Text;
using Google.Protobuf;
using MtlPrune.Engine.Inference;
using MtlPrune.Engine.IO;
using MtlPrune.Models;

namespace MtlPrune.Deploy.Onnx;

/// <summary>
/// Reads an ONNX model written with the operator set <see cref="OnnxExport"/> uses back into an inference graph, so that
/// the engine can run an exported file and its outputs can be compared with the source model's: Conv, Add, Relu,
/// Clip(0, 6), BatchNormalization, MaxPool, GlobalAveragePool, Flatten, Gemm (transB = 1), Identity, and Resize whose
/// sizes are the input's height and width (Shape, Slice and Concat are followed symbolically). Initializers may be dense
/// (raw_data, float_data, int64_data) or sparse (linear indices). Anything else, or a malformed file, raises
/// <see cref="ModelFormatException"/> naming the file and the fault; lengths are checked against the file before use.
/// </summary>
public static class OnnxReader
{
    private sealed record Node(string Op, List<string> Inputs, List<string> Outputs, Dictionary<string, Attr> Attrs);
    private sealed record Attr(long I, float F, string S, long[] Ints);
    private sealed record Init(long[] Dims, int Type, float[]? Floats, long[]? Longs);

    public static InferenceGraph Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model '{path}' does not exist.", path);
        return Parse(File.ReadAllBytes(path), path);
    }

    public static InferenceGraph Parse(byte[] bytes, string source)
    {
        ModelFormatException Bad(string fault) => new(source, "ONNX: " + fault);
        try { return Build(bytes, Bad); }
        catch (InvalidProtocolBufferException e) { throw Bad($"not a valid protocol buffer ({e.Message})"); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or OverflowException or FormatException or IndexOutOfRangeException or InvalidCastException)
        {
            throw Bad(e.Message);
        }
    }

    private static InferenceGraph Build(byte[] bytes, Func<string, ModelFormatException> bad)
    {
        byte[]? graphBytes = null;
        long opset = -1;
        var meta = new Dictionary<string, string>();
        foreach (var (field, value) in Fields(bytes))
        {
            if (field == 7) graphBytes = Message(value);
            else if (field == 8)
            {
                string domain = ""; long version = 0;
                foreach (var (f, v) in Fields(Message(value))) { if (f == 1) domain = Str(v); else if (f == 2) version = (long)v; }
                if (domain is "" or "ai.onnx") opset = version;
            }
            else if (field == 14)
            {
                string k = "", v2 = "";
                foreach (var (f, v) in Fields(Message(value))) { if (f == 1) k = Str(v); else if (f == 2) v2 = Str(v); }
                meta[k] = v2;
            }
        }
        if (graphBytes is null) throw bad("the model has no graph.");
        if (opset < 13) throw bad($"opset {opset}; this reader reads opset 13 and later (MtlPrune writes {OnnxExport.Opset}).");

        var nodes = new List<Node>();
        var inits = new Dictionary<string, Init>();
        var inputs = new List<(string Name, long[] Dims)>();
        var outputs = new List<string>();
        long budget = Math.Max(1L << 24, 64L * bytes.Length);     // elements the initializers may decode to, in all
        foreach (var (field, value) in Fields(graphBytes))
            switch (field)
            {
                case 1: nodes.Add(ParseNode(Message(value))); break;
                case 5: { var (name, init) = ParseTensor(Message(value), bad, ref budget); inits[name] = init; break; }
                case 15: { var (name, init) = ParseSparse(Message(value), bad, ref budget); inits[name] = init; break; }
                case 11: inputs.Add(ParseValueInfo(Message(value))); break;
                case 12: outputs.Add(ParseValueInfo(Message(value)).Name); break;
            }
        var input = inputs.Where(i => !inits.ContainsKey(i.Name)).ToList();
        if (input.Count != 1) throw bad($"the graph has {input.Count} inputs besides its initializers; an MtlPrune model has one image input.");
        if (input[0].Dims.Length != 4 || input[0].Dims[1] < 1 || input[0].Dims[1] > 1 << 16) throw bad($"input '{input[0].Name}' is not [batch, channels, height, width] with a fixed channel count.");

        var g = new GraphBuilder(inits, bad);
        g.Values[input[0].Name] = 0;
        foreach (var n in nodes) g.Add(n);
        var outs = outputs.Select(o => new KeyValuePair<string, int>(o, g.Value(o))).ToList();
        ModelSpec spec;
        try { spec = meta.TryGetValue("mtlprune.model", out var json) ? ModelSpec.FromJson(json, "metadata") : new ModelSpec { Name = "onnx" }; }
        catch (FormatException e) { throw bad("metadata 'mtlprune.model': " + e.Message); }
        var graph = new InferenceGraph
        {
            Spec = spec, InputChannels = (int)input[0].Dims[1], Nodes = g.Nodes, Tensors = g.Tensors, Outputs = outs,
            Metadata = meta.Where(kv => !kv.Key.StartsWith("mtlprune.")).ToDictionary(kv => kv.Key, kv => kv.Value),
        };
        GraphValidation.Check(graph, f => bad(f));
        return graph;
    }

    /// <summary>Turns ONNX nodes into graph nodes, following shape computations symbolically.</summary>
    private sealed class GraphBuilder(Dictionary<string, Init> inits, Func<string, ModelFormatException> bad)
    {
        public readonly Dictionary<string, int> Values = new();
        public readonly List<GraphNode> Nodes = new();
        public readonly Dictionary<string, GraphTensor> Tensors = new();
        private readonly Dictionary<string, List<(int Value, int Axis)>> _shapes = new();
        private int _next = 1;

        public int Value(string name) => Values.TryGetValue(name, out var v) ? v : throw bad($"'{name}' is used before it is computed.");

        private string Weight(string name, int rank)
        {
            if (!inits.TryGetValue(name, out var t) || t.Floats is null) throw bad($"weight '{name}' is not a float initializer.");
            if (rank >= 0 && t.Dims.Length != rank) throw bad($"weight '{name}' has {t.Dims.Length} dimensions, needs {rank}.");
            Tensors.TryAdd(name, new GraphTensor(t.Dims.Select(d => (int)d).ToArray(), t.Floats));
            return name;
        }

        private float Scalar(string name) => inits.TryGetValue(name, out var t) && t.Floats is { Length: 1 } f ? f[0] : throw bad($"'{name}' is not a float scalar initializer.");
        private long[] Longs(string name) => inits.TryGetValue(name, out var t) && t.Longs is { } l ? l : throw bad($"'{name}' is not an int64 initializer.");

        private void Emit(GraphOp op, string output, int[] ins, GraphNode? attrs = null)
        {
            var n = (attrs ?? new GraphNode { Op = op, Inputs = ins, Output = 0 }) with { Op = op, Inputs = ins, Output = _next };
            if (Values.ContainsKey(output)) throw bad($"'{output}' is computed twice.");
            Values[output] = _next++;
            Nodes.Add(n);
        }

        private int[] Pair(Node n, string attr, int fallback)
        {
            if (!n.Attrs.TryGetValue(attr, out var a)) return new[] { fallback, fallback };
            if (a.Ints.Length != 2) throw bad($"{n.Op} '{n.Outputs.FirstOrDefault()}': attribute {attr} has {a.Ints.Length} values, needs 2.");
            return a.Ints.Select(v => (int)Math.Clamp(v, -1, 1 << 20)).ToArray();
        }

        private int[] Pads(Node n)
        {
            if (!n.Attrs.TryGetValue("pads", out var a)) return new[] { 0, 0 };
            if (a.Ints.Length != 4 || a.Ints[0] != a.Ints[2] || a.Ints[1] != a.Ints[3]) throw bad($"{n.Op} '{n.Outputs.FirstOrDefault()}': only symmetric pads are supported.");
            return new[] { (int)Math.Clamp(a.Ints[0], -1, 1 << 20), (int)Math.Clamp(a.Ints[1], -1, 1 << 20) };
        }

        public void Add(Node n)
        {
            if (n.Outputs.Count != 1) throw bad($"{n.Op} node has {n.Outputs.Count} outputs; every supported operator has one.");
            string y = n.Outputs[0];
            string In(int i) => i < n.Inputs.Count ? n.Inputs[i] : throw bad($"{n.Op} '{y}' has {n.Inputs.Count} inputs.");
            switch (n.Op)
            {
                case "Conv":
                    {
                        var w = Weight(In(0 + 1), 4);
                        Emit(GraphOp.Conv, y, new[] { Value(In(0)) }, new GraphNode
                        {
                            Op = GraphOp.Conv, Inputs = Array.Empty<int>(), Output = 0, Name = y, Weight = w, Bias = n.Inputs.Count > 2 && n.Inputs[2].Length > 0 ? Weight(n.Inputs[2], 1) : null,
                            Kernel = Pair(n, "kernel_shape", (int)Tensors[w].Shape[2]), Stride = Pair(n, "strides", 1), Dilation = Pair(n, "dilations", 1), Padding = Pads(n),
                            Groups = n.Attrs.TryGetValue("group", out var gr) ? (int)Math.Clamp(gr.I, 0, 1 << 20) : 1,
                        });
                        break;
                    }
                case "Add": Emit(GraphOp.Add, y, new[] { Value(In(0)), Value(In(1)) }); break;
                case "Relu": Emit(GraphOp.Relu, y, new[] { Value(In(0)) }); break;
                case "Clip":
                    if (n.Inputs.Count != 3 || Scalar(n.Inputs[1]) != 0f || Scalar(n.Inputs[2]) != 6f) throw bad($"Clip '{y}' is not Clip(0, 6) (ReLU6).");
                    Emit(GraphOp.Relu6, y, new[] { Value(In(0)) });
                    break;
                case "BatchNormalization":
                    Emit(GraphOp.BatchNorm, y, new[] { Value(In(0)) }, new GraphNode
                    {
                        Op = GraphOp.BatchNorm, Inputs = Array.Empty<int>(), Output = 0, Name = y, Weight = Weight(In(1), 1), Bias = Weight(In(2), 1), Mean = Weight(In(3), 1), Var = Weight(In(4), 1),
                        Eps = n.Attrs.TryGetValue("epsilon", out var e) ? e.F : 1e-5f,
                    });
                    break;
                case "MaxPool":
                    Emit(GraphOp.MaxPool, y, new[] { Value(In(0)) }, new GraphNode
                    {
                        Op = GraphOp.MaxPool, Inputs = Array.Empty<int>(), Output = 0, Name = y, Kernel = Pair(n, "kernel_shape", 1), Stride = Pair(n, "strides", 1), Padding = Pads(n),
                        Ceil = n.Attrs.TryGetValue("ceil_mode", out var c) && c.I != 0,
                    });
                    break;
                case "GlobalAveragePool": Emit(GraphOp.GlobalAvgPool, y, new[] { Value(In(0)) }); break;
                case "Flatten":
                    {
                        int x = Value(In(0));
                        var producer = Nodes.LastOrDefault(p => p.Output == x);
                        if (producer?.Op != GraphOp.GlobalAvgPool || (n.Attrs.TryGetValue("axis", out var ax) ? ax.I : 1) != 1) throw bad($"Flatten '{y}' does not follow a GlobalAveragePool with axis 1.");
                        Values[y] = x;         // our pooled values are already [N, C]
                        break;
                    }
                case "Gemm":
                    if (!n.Attrs.TryGetValue("transB", out var tb) || tb.I != 1 || (n.Attrs.TryGetValue("transA", out var ta) && ta.I != 0)
                        || (n.Attrs.TryGetValue("alpha", out var al) && al.F != 1f) || (n.Attrs.TryGetValue("beta", out var be) && be.F != 1f))
                        throw bad($"Gemm '{y}' is not x·Wᵀ + b (transB = 1, alpha = beta = 1).");
                    Emit(GraphOp.Linear, y, new[] { Value(In(0)) }, new GraphNode
                    {
                        Op = GraphOp.Linear, Inputs = Array.Empty<int>(), Output = 0, Name = y, Weight = Weight(In(1), 2), Bias = n.Inputs.Count > 2 && n.Inputs[2].Length > 0 ? Weight(n.Inputs[2], 1) : null,
                    });
                    break;
                case "Identity": Values[y] = Value(In(0)); break;
                case "Shape": { int v = Value(In(0)); _shapes[y] = Enumerable.Range(0, 4).Select(a => (v, a)).ToList(); break; }
                case "Slice":
                    {
                        if (!_shapes.TryGetValue(In(0), out var s)) throw bad($"Slice '{y}' slices something other than a shape.");
                        long start = Longs(In(1)).Single(), end = Longs(In(2)).Single();
                        if (n.Inputs.Count > 3 && Longs(n.Inputs[3]).Single() != 0) throw bad($"Slice '{y}' of a shape must use axis 0.");
                        int a = (int)Math.Clamp(start < 0 ? start + s.Count : start, 0, s.Count), b = (int)Math.Clamp(end < 0 ? end + s.Count : end, 0, s.Count);
                        _shapes[y] = s.Skip(a).Take(Math.Max(0, b - a)).ToList();
                        break;
                    }
                case "Concat":
                    _shapes[y] = n.Inputs.SelectMany(i => _shapes.TryGetValue(i, out var s) ? s : throw bad($"Concat '{y}' joins something other than shapes.")).ToList();
                    break;
                case "Resize":
                    {
                        int x = Value(In(0));
                        if (n.Inputs.Count != 4 || !_shapes.TryGetValue(n.Inputs[3], out var sizes)) throw bad($"Resize '{y}' must take its sizes from shapes.");
                        if (!sizes.SequenceEqual(new[] { (x, 0), (x, 1), (0, 2), (0, 3) })) throw bad($"Resize '{y}' does not resize to the input's height and width.");
                        if (Attr(n, "mode") != "linear" || Attr(n, "coordinate_transformation_mode") is not ("half_pixel" or "pytorch_half_pixel"))
                            throw bad($"Resize '{y}' is not linear with half_pixel coordinates (PyTorch's bilinear, align_corners=False).");
                        Emit(GraphOp.Resize, y, new[] { x });
                        break;
                    }
                default: throw bad($"operator {n.Op} ('{y}') is outside the operator set MtlPrune writes.");
            }
        }

        private static string Attr(Node n, string name) => n.Attrs.TryGetValue(name, out var a) ? a.S : "";
    }

    private static Node ParseNode(byte[] b)
    {
        var n = new Node("", new List<string>(), new List<string>(), new Dictionary<string, Attr>());
        string op = "";
        foreach (var (f, v) in Fields(b))
            switch (f)
            {
                case 1: n.Inputs.Add(Str(v)); break;
                case 2: n.Outputs.Add(Str(v)); break;
                case 4: op = Str(v); break;
                case 5:
                    {
                        string name = ""; long i = 0; float fl = 0; string s = ""; var ints = new List<long>();
                        foreach (var (af, av) in Fields(Message(v)))
                            switch (af)
                            {
                                case 1: name = Str(av); break;
                                case 2: fl = BitConverter.Int32BitsToSingle((int)(uint)(long)av); break;
                                case 3: i = (long)av; break;
                                case 4: s = Str(av); break;
                                case 8: if (av is byte[] packed) ints.AddRange(Varints(packed)); else ints.Add((long)av); break;
                            }
                        n.Attrs[name] = new Attr(i, fl, s, ints.ToArray());
                        break;
                    }
            }
        return n with { Op = op };
    }

    private static byte[] Message(object v) => v as byte[] ?? throw new InvalidOperationException("a message field is not length-delimited.");

    private static (string Name, Init Init) ParseTensor(byte[] b, Func<string, ModelFormatException> bad, ref long budget)
    {
        var dims = new List<long>(); int type = 0; string name = ""; byte[]? raw = null; var floats = new List<float>(); var longs = new List<long>();
        foreach (var (f, v) in Fields(b))
            switch (f)
            {
                case 1: if (v is byte[] p) dims.AddRange(Varints(p)); else dims.Add((long)v); break;
                case 2: type = (int)(long)v; break;
                case 4: if (v is byte[] fp) for (int i = 0; i + 4 <= fp.Length; i += 4) floats.Add(BinaryPrimitives.ReadSingleLittleEndian(fp.AsSpan(i))); else floats.Add(BitConverter.Int32BitsToSingle((int)(uint)(long)v)); break;
                case 7: if (v is byte[] lp) longs.AddRange(Varints(lp)); else longs.Add((long)v); break;
                case 8: name = Str(v); break;
                case 9: raw = Message(v); break;
            }
        long n = 1;
        foreach (var d in dims)
        {
            if (d < 0 || d > int.MaxValue) throw bad($"initializer '{name}' has dimension {d}.");
            n = checked(n * d);
        }
        if (dims.Count > 8 || n > 1L << 30) throw bad($"initializer '{name}' is too large ({dims.Count} dimensions, {n} elements).");
        budget -= n;
        if (budget < 0) throw bad($"initializer '{name}' takes the initializers beyond what a file of this size holds.");
        if (type == 1)
        {
            float[] data;
            if (raw is not null)
            {
                if (raw.LongLength != 4 * n) throw bad($"initializer '{name}' holds {raw.Length} bytes for {n} floats.");
                data = new float[n];
                for (int i = 0; i < n; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(4 * i));
            }
            else if (floats.Count == n) data = floats.ToArray();
            else throw bad($"initializer '{name}' holds {floats.Count} floats for {n} elements.");
            return (name, new Init(dims.ToArray(), 1, data, null));
        }
        if (type == 7)
        {
            long[] data;
            if (raw is not null)
            {
                if (raw.LongLength != 8 * n) throw bad($"initializer '{name}' holds {raw.Length} bytes for {n} int64 values.");
                data = new long[n];
                for (int i = 0; i < n; i++) data[i] = BinaryPrimitives.ReadInt64LittleEndian(raw.AsSpan(8 * i));
            }
            else if (longs.Count == n) data = longs.ToArray();
            else throw bad($"initializer '{name}' holds {longs.Count} int64 values for {n} elements.");
            return (name, new Init(dims.ToArray(), 7, null, data));
        }
        throw bad($"initializer '{name}' has element type {type}; this reader reads float (1) and int64 (7).");
    }

    private static (string, Init) ParseSparse(byte[] b, Func<string, ModelFormatException> bad, ref long budget)
    {
        Init? values = null, indices = null; string name = ""; var dims = new List<long>();
        foreach (var (f, v) in Fields(b))
            switch (f)
            {
                case 1: { var (n, t) = ParseTensor(Message(v), bad, ref budget); values = t; name = n; break; }
                case 2: indices = ParseTensor(Message(v), bad, ref budget).Init; break;
                case 3: if (v is byte[] p) dims.AddRange(Varints(p)); else dims.Add((long)v); break;
            }
        if (values?.Floats is null || indices?.Longs is null || values.Floats.Length != indices.Longs.Length)
            throw bad($"sparse initializer '{name}' lacks float values or int64 linear indices of the same count.");
        long total = 1;
        foreach (var d in dims)
        {
            if (d < 0 || d > int.MaxValue) throw bad($"sparse initializer '{name}' has dimension {d}.");
            total = checked(total * d);
        }
        if (dims.Count > 8 || total > 1L << 30) throw bad($"sparse initializer '{name}' is too large.");
        budget -= total;
        if (budget < 0) throw bad($"sparse initializer '{name}' takes the initializers beyond what a file of this size holds.");
        var data = new float[total];
        long prev = -1;
        for (int k = 0; k < indices.Longs.Length; k++)
        {
            long i = indices.Longs[k];
            if (i <= prev || i >= total) throw bad($"sparse initializer '{name}' has index {i} out of order or beyond its {total} elements.");
            data[i] = values.Floats[k];
            prev = i;
        }
        return (name, new Init(dims.ToArray(), 1, data, null));
    }

    private static (string Name, long[] Dims) ParseValueInfo(byte[] b)
    {
        string name = ""; var dims = new List<long>();
        foreach (var (f, v) in Fields(b))
            if (f == 1) name = Str(v);
            else if (f == 2)
                foreach (var (tf, tv) in Fields(Message(v)))
                    if (tf == 1)
                        foreach (var (sf, sv) in Fields(Message(tv)))
                            if (sf == 2)
                                foreach (var (df, dv) in Fields(Message(sv)))
                                    if (df == 1)
                                    {
                                        long d = -1;
                                        foreach (var (xf, xv) in Fields(Message(dv))) if (xf == 1) d = (long)xv;
                                        dims.Add(d);
                                    }
        return (name, dims.ToArray());
    }

    /// <summary>The fields of a message: (number, long for varint / fixed, byte[] for length-delimited).</summary>
    private static List<(int Field, object Value)> Fields(byte[] message)
    {
        var list = new List<(int, object)>();
        var input = new CodedInputStream(message);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            int field = WireFormat.GetTagFieldNumber(tag);
            switch (WireFormat.GetTagWireType(tag))
            {
                case WireFormat.WireType.Varint: list.Add((field, input.ReadInt64())); break;
                case WireFormat.WireType.Fixed32: list.Add((field, (long)input.ReadFixed32())); break;
                case WireFormat.WireType.Fixed64: list.Add((field, (long)input.ReadFixed64())); break;
                case WireFormat.WireType.LengthDelimited: list.Add((field, input.ReadBytes().ToByteArray())); break;
                default: input.SkipLastField(); break;
            }
        }
        return list;
    }

    private static IEnumerable<long> Varints(byte[] packed)
    {
        var input = new CodedInputStream(packed);
        var list = new List<long>();
        while (!input.IsAtEnd) list.Add(input.ReadInt64());
        return list;
    }

    private static string Str(object v) => v is byte[] b ? Encoding.UTF8.GetString(b) : throw new InvalidOperationException("a string field is not length-delimited.");
}
