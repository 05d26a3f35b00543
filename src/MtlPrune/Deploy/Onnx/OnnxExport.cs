using System.Buffers.Binary;
using System.Globalization;
using MtlPrune.Engine.Inference;
using MtlPrune.Engine.IO;

namespace MtlPrune.Deploy.Onnx;

/// <summary>What <see cref="OnnxExport.Write"/> wrote.</summary>
public sealed record OnnxSummary(int Nodes, int Initializers, int SparseInitializers, long Bytes);

/// <summary>
/// An inference graph as an ONNX model (IR version 8, opset 17), written field by field with Google.Protobuf's
/// <c>CodedOutputStream</c>. One input <c>input</c> [batch, C, height, width] and one output per kept task, named after it.
/// Convolutions carry their folded batch norm; a fused residual or activation becomes Add, Relu or Clip(0, 6) after the
/// Conv; upsampling to the input size is Resize (linear, <c>half_pixel</c>: PyTorch's <c>align_corners=False</c>) with
/// its sizes taken from the input's shape, so height and width stay free; a classification head is GlobalAveragePool,
/// Flatten and Gemm. With <c>sparseInitializers</c>, a weight is stored as a <c>sparse_initializer</c> (values and
/// int64 linear indices) when that is smaller than its dense form. The model spec and metadata go in
/// <c>metadata_props</c>.
/// </summary>
public static class OnnxExport
{
    public const int Opset = 17;
    public const long IrVersion = 8;
    internal const string Input = "input";
    internal const string ZeroName = "mtlprune.const.zero", SixName = "mtlprune.const.six";

    private const int FloatType = 1, Int64Type = 7;

    public static OnnxSummary Write(InferenceGraph g, string path, bool sparseInitializers = false)
    {
        var bytes = Build(g, sparseInitializers, out var summary);
        AtomicFile.WriteAllBytes(path, bytes);
        return summary with { Bytes = bytes.Length };
    }

    public static byte[] Build(InferenceGraph g, bool sparseInitializers, out OnnxSummary summary)
    {
        var nodes = new List<Action<ProtoWriter>>();
        var extra = new Dictionary<string, (long[] Dims, byte[] Raw, int Type)>();
        string V(int id) => id == 0 ? Input : $"v{id.ToString(CultureInfo.InvariantCulture)}";
        void Node(string op, string[] inputs, string output, Action<ProtoWriter>? attrs = null) => nodes.Add(w =>
        {
            foreach (var i in inputs) w.Str(1, i);
            w.Str(2, output);
            w.Str(3, output + "." + op);
            w.Str(4, op);
            attrs?.Invoke(w);
        });
        void Act(Activation a, string from, string to)
        {
            if (a == Activation.Relu) Node("Relu", new[] { from }, to);
            else
            {
                Constant(extra, ZeroName, 0f); Constant(extra, SixName, 6f);
                Node("Clip", new[] { from, ZeroName, SixName }, to);
            }
        }
        // The input's height and width, computed once for every Resize to the input size.
        bool inputSizeMade = false;
        string InputHw()
        {
            if (!inputSizeMade)
            {
                Ints(extra, "mtlprune.const.0", 0); Ints(extra, "mtlprune.const.2", 2); Ints(extra, "mtlprune.const.4", 4);
                Node("Shape", new[] { Input }, "input.shape");
                Node("Slice", new[] { "input.shape", "mtlprune.const.2", "mtlprune.const.4", "mtlprune.const.0" }, "input.hw");
                inputSizeMade = true;
            }
            return "input.hw";
        }

        foreach (var n in g.Nodes)
        {
            string x = V(n.Inputs[0]), y = V(n.Output);
            switch (n.Op)
            {
                case GraphOp.Conv:
                    {
                        bool residual = n.Inputs.Length == 2, act = n.Activation != Activation.None;
                        string convOut = residual || act ? y + ".conv" : y;
                        var inputs = n.Bias is null ? new[] { x, n.Weight! } : new[] { x, n.Weight!, n.Bias };
                        Node("Conv", inputs, convOut, w =>
                        {
                            IntsAttr(w, "dilations", n.Dilation); IntAttr(w, "group", n.Groups); IntsAttr(w, "kernel_shape", n.Kernel);
                            IntsAttr(w, "pads", new[] { n.Padding[0], n.Padding[1], n.Padding[0], n.Padding[1] }); IntsAttr(w, "strides", n.Stride);
                        });
                        string sum = convOut;
                        if (residual)
                        {
                            sum = act ? y + ".sum" : y;
                            Node("Add", new[] { convOut, V(n.Inputs[1]) }, sum);
                        }
                        if (act) Act(n.Activation, sum, y);
                        break;
                    }
                case GraphOp.BatchNorm:
                    {
                        var mean = g.Tensors[n.Mean!];
                        string scale = n.Weight ?? Fill(extra, n.Name + ".onnx_scale", mean.Shape, 1f), bias = n.Bias ?? Fill(extra, n.Name + ".onnx_bias", mean.Shape, 0f);
                        Node("BatchNormalization", new[] { x, scale, bias, n.Mean!, n.Var! }, y, w => FloatAttr(w, "epsilon", n.Eps));
                        break;
                    }
                case GraphOp.Relu: Node("Relu", new[] { x }, y); break;
                case GraphOp.Relu6: Act(Activation.Relu6, x, y); break;
                case GraphOp.Add:
                    if (n.Activation == Activation.None) Node("Add", new[] { x, V(n.Inputs[1]) }, y);
                    else { Node("Add", new[] { x, V(n.Inputs[1]) }, y + ".sum"); Act(n.Activation, y + ".sum", y); }
                    break;
                case GraphOp.MaxPool:
                    Node("MaxPool", new[] { x }, y, w =>
                    {
                        IntAttr(w, "ceil_mode", n.Ceil ? 1 : 0); IntsAttr(w, "kernel_shape", n.Kernel);
                        IntsAttr(w, "pads", new[] { n.Padding[0], n.Padding[1], n.Padding[0], n.Padding[1] }); IntsAttr(w, "strides", n.Stride);
                    });
                    break;
                case GraphOp.Resize:
                    {
                        string hw = InputHw();
                        Node("Shape", new[] { x }, y + ".shape");
                        Node("Slice", new[] { y + ".shape", "mtlprune.const.0", "mtlprune.const.2", "mtlprune.const.0" }, y + ".nc");
                        Node("Concat", new[] { y + ".nc", hw }, y + ".sizes", w => IntAttr(w, "axis", 0));
                        Node("Resize", new[] { x, "", "", y + ".sizes" }, y, w =>
                        {
                            StrAttr(w, "coordinate_transformation_mode", "half_pixel"); StrAttr(w, "mode", "linear");
                        });
                        break;
                    }
                case GraphOp.GlobalAvgPool:
                    Node("GlobalAveragePool", new[] { x }, y + ".pooled");
                    Node("Flatten", new[] { y + ".pooled" }, y, w => IntAttr(w, "axis", 1));
                    break;
                case GraphOp.Linear:
                    {
                        var inputs = n.Bias is null ? new[] { x, n.Weight! } : new[] { x, n.Weight!, n.Bias };
                        string gemmOut = n.Activation == Activation.None ? y : y + ".gemm";
                        Node("Gemm", inputs, gemmOut, w => IntAttr(w, "transB", 1));
                        if (n.Activation != Activation.None) Act(n.Activation, gemmOut, y);
                        break;
                    }
                default: throw new NotSupportedException($"ONNX export: operation {n.Op}.");
            }
        }
        foreach (var (task, v) in g.Outputs) Node("Identity", new[] { V(v) }, task);

        // Shapes of the outputs: channels from the weights; dense outputs at the input's size when resized to it.
        var channels = new Dictionary<int, int> { [0] = g.InputChannels };
        var flat = new HashSet<int>(); var atInputSize = new HashSet<int>();
        foreach (var n in g.Nodes)
        {
            int c = channels[n.Inputs[0]];
            if (n.Op is GraphOp.Conv or GraphOp.Linear) c = g.Tensors[n.Weight!].Shape[0];
            if (n.Op is GraphOp.GlobalAvgPool or GraphOp.Linear || flat.Contains(n.Inputs[0])) flat.Add(n.Output);
            if (n.Op == GraphOp.Resize) atInputSize.Add(n.Output);
            channels[n.Output] = c;
        }

        int dense = 0, sparse = 0;
        var model = new ProtoWriter()
            .Int(1, IrVersion)
            .Str(2, "mtlprune")
            .Str(3, typeof(OnnxExport).Assembly.GetName().Version?.ToString(3) ?? "0")
            .Msg(7, graph =>
            {
                foreach (var n in nodes) graph.Msg(1, n);
                graph.Str(2, g.Spec.Name);
                foreach (var (name, t) in g.Tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    long nnz = t.Nonzeros;
                    if (sparseInitializers && 12 * nnz < 4 * t.Numel)
                    {
                        sparse++;
                        var values = new byte[4 * nnz]; var indices = new byte[8 * nnz];
                        for (long i = 0, k = 0; i < t.Numel; i++)
                            if (t.Data[i] != 0)
                            {
                                BinaryPrimitives.WriteSingleLittleEndian(values.AsSpan((int)(4 * k)), t.Data[i]);
                                BinaryPrimitives.WriteInt64LittleEndian(indices.AsSpan((int)(8 * k)), i);
                                k++;
                            }
                        graph.Msg(15, s => s
                            .Msg(1, v => Tensor(v, name, new[] { nnz }, values, FloatType))
                            .Msg(2, ix => Tensor(ix, "", new[] { nnz }, indices, Int64Type))
                            .Ints(3, t.Shape.Select(d => (long)d)));
                    }
                    else
                    {
                        dense++;
                        var raw = new byte[4 * t.Numel];
                        for (long i = 0; i < t.Numel; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan((int)(4 * i)), t.Data[i]);
                        graph.Msg(5, w => Tensor(w, name, t.Shape.Select(d => (long)d).ToArray(), raw, FloatType));
                    }
                }
                foreach (var (name, (dims, raw, type)) in extra.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    dense++;
                    graph.Msg(5, w => Tensor(w, name, dims, raw, type));
                }
                graph.Msg(11, vi => ValueInfo(vi, Input, new object[] { "batch", (long)g.InputChannels, "height", "width" }));
                foreach (var (task, v) in g.Outputs)
                    graph.Msg(12, vi => ValueInfo(vi, task, flat.Contains(v) ? new object[] { "batch", (long)channels[v] }
                        : atInputSize.Contains(v) ? new object[] { "batch", (long)channels[v], "height", "width" }
                        : new object[] { "batch", (long)channels[v], task + "_height", task + "_width" }));
            })
            .Msg(8, op => op.Str(1, "").Int(2, Opset));
        var meta = new Dictionary<string, string>(g.Metadata)
        {
            ["mtlprune.model"] = g.Spec.ToJson(),
            ["mtlprune.tasks"] = string.Join(",", g.Outputs.Select(o => o.Key)),
        };
        foreach (var (k, v) in meta.OrderBy(kv => kv.Key, StringComparer.Ordinal)) model.Msg(14, e => e.Str(1, k).Str(2, v));
        var bytes = model.ToArray();
        summary = new OnnxSummary(nodes.Count, dense, sparse, bytes.Length);
        return bytes;
    }

    private static void Tensor(ProtoWriter w, string name, long[] dims, byte[] raw, int type)
    {
        if (dims.Length > 0) w.Ints(1, dims);
        w.Int(2, type);
        if (name.Length > 0) w.Str(8, name);
        w.Bytes(9, raw);
    }

    private static void ValueInfo(ProtoWriter w, string name, object[] dims) => w.Str(1, name).Msg(2, type => type.Msg(1, tensor => tensor
        .Int(1, FloatType)
        .Msg(2, shape => { foreach (var d in dims) shape.Msg(1, dim => { if (d is long v) dim.Int(1, v); else dim.Str(2, (string)d); }); })));

    private static void Constant(Dictionary<string, (long[], byte[], int)> extra, string name, float value)
    {
        var raw = new byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(raw, value);
        extra[name] = (Array.Empty<long>(), raw, FloatType);
    }

    private static void Ints(Dictionary<string, (long[], byte[], int)> extra, string name, long value)
    {
        var raw = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(raw, value);
        extra[name] = (new[] { 1L }, raw, Int64Type);
    }

    private static string Fill(Dictionary<string, (long[], byte[], int)> extra, string name, int[] shape, float value)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        var raw = new byte[4 * n];
        for (int i = 0; i < n; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(4 * i), value);
        extra[name] = (shape.Select(d => (long)d).ToArray(), raw, FloatType);
        return name;
    }

    // AttributeProto: name = 1, f = 2, i = 3, s = 4, ints = 8, type = 20 (FLOAT 1, INT 2, STRING 3, INTS 7).
    private static void IntAttr(ProtoWriter w, string name, long v) => w.Msg(5, a => a.Str(1, name).Int(3, v).Int(20, 2));
    private static void FloatAttr(ProtoWriter w, string name, float v) => w.Msg(5, a => a.Str(1, name).Float(2, v).Int(20, 1));
    private static void StrAttr(ProtoWriter w, string name, string v) => w.Msg(5, a => a.Str(1, name).Bytes(4, System.Text.Encoding.UTF8.GetBytes(v)).Int(20, 3));
    private static void IntsAttr(ProtoWriter w, string name, int[] v) => w.Msg(5, a => a.Str(1, name).Ints(8, v.Select(x => (long)x)).Int(20, 7));
}
