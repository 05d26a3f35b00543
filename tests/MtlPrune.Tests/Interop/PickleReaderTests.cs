using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Engine.IO.Torch;
using static MtlPrune.Tests.Interop.PickleBytes;

namespace MtlPrune.Tests.Interop;

public class PickleReaderTests
{
    private static object? Load(byte[] b) => PickleReader.Load(b, "test.pkl");

    /// <summary>One hand-built pickle per supported opcode, with the value it must give.</summary>
    private static readonly (string Opcode, byte[] Pickle, Func<object?, bool> Check)[] Cases =
    {
        ("PROTO", P("\x80\x02N."), v => v is null),
        ("FRAME", P("\x95", U64(2), "N."), v => v is null),
        ("STOP", P("N."), v => v is null),
        ("MARK", P("(", Int(1), Int(2), "t."), v => v is PyTuple { Count: 2 } t && (long)t[1]! == 2),
        ("TUPLE", P("(", Int(1), Int(2), Int(3), "t."), v => v is PyTuple { Count: 3 }),
        ("POP", P(Int(1), Int(2), "0."), v => (long)v! == 1),
        ("POP_MARK", P(Int(7), "(", Int(1), Int(2), "1."), v => (long)v! == 7),
        ("DUP", P(Int(5), "2\x86."), v => v is PyTuple { Count: 2 } t && (long)t[0]! == 5 && (long)t[1]! == 5),
        ("NONE", P("N."), v => v is null),
        ("NEWTRUE", P("\x88."), v => v is true),
        ("NEWFALSE", P("\x89."), v => v is false),
        ("BININT", P("J", I32(-5), "."), v => (long)v! == -5),
        ("BININT1", P("K\xff."), v => (long)v! == 255),
        ("BININT2", P("M\x00\x01."), v => (long)v! == 256),
        ("LONG1", P("\x8a\x02\xff\x7f\x8a\x01\xff\x86."), v => v is PyTuple t && (long)t[0]! == 32767 && (long)t[1]! == -1),
        ("LONG4", P("\x8b", I32(3), "\x00\x00\x80."), v => (long)v! == -8388608),
        ("BINFLOAT", P("G\x3f\xf8\x00\x00\x00\x00\x00\x00."), v => (double)v! == 1.5),
        ("BINUNICODE", P(Str("héllo"), "."), v => (string)v! == "héllo"),
        ("SHORT_BINUNICODE", P("\x8c", (byte)2, "ab."), v => (string)v! == "ab"),
        ("BINUNICODE8", P("\x8d", U64(2), "ab."), v => (string)v! == "ab"),
        ("BINSTRING", P("T", I32(2), "ab."), v => (string)v! == "ab"),
        ("SHORT_BINSTRING", P("U", (byte)2, "ab."), v => (string)v! == "ab"),
        ("BINBYTES", P("B", U32(2), "\x01\x02."), v => v is byte[] { Length: 2 } b && b[1] == 2),
        ("SHORT_BINBYTES", P("C\x01\x09."), v => v is byte[] { Length: 1 } b && b[0] == 9),
        ("BINBYTES8", P("\x8e", U64(1), "\x07."), v => v is byte[] { Length: 1 } b && b[0] == 7),
        ("EMPTY_TUPLE", P(")."), v => v is PyTuple { Count: 0 }),
        ("TUPLE1", P(Int(4), "\x85."), v => v is PyTuple { Count: 1 }),
        ("TUPLE2", P(Int(4), Int(5), "\x86."), v => v is PyTuple { Count: 2 }),
        ("TUPLE3", P(Int(4), Int(5), Int(6), "\x87."), v => v is PyTuple { Count: 3 } t && (long)t[2]! == 6),
        ("EMPTY_LIST", P("]."), v => v is List<object?> { Count: 0 }),
        ("LIST", P("(", Int(1), Int(2), "l."), v => v is List<object?> { Count: 2 }),
        ("APPEND", P("]", Int(1), "a."), v => v is List<object?> { Count: 1 } l && (long)l[0]! == 1),
        ("APPENDS", P("](", Int(1), Int(2), "e."), v => v is List<object?> { Count: 2 }),
        ("EMPTY_DICT", P("}."), v => v is PyDict { Count: 0 }),
        ("DICT", P("(", Str("a"), Int(1), "d."), v => v is PyDict d && d.TryGet("a", out var x) && (long)x! == 1),
        ("SETITEM", P("}", Str("a"), Int(1), "s."), v => v is PyDict { Count: 1 }),
        ("SETITEMS", P("}(", Str("a"), Int(1), Str("b"), Int(2), "u."), v => v is PyDict { Count: 2 } d && d.Items[1].Key is "b"),
        ("EMPTY_SET", P("\x8f."), v => v is PickleReader.HashSetValue { Items.Count: 0 }),
        ("ADDITEMS", P("\x8f(", Int(1), Int(2), "\x90."), v => v is PickleReader.HashSetValue { Items.Count: 2 }),
        ("FROZENSET", P("(", Int(1), "\x91."), v => v is PickleReader.HashSetValue { Items.Count: 1 }),
        ("BINPUT", P(Int(9), "q\x00", "0", "h\x00."), v => (long)v! == 9),
        ("BINGET", P(Int(9), "q\x03", "0", "h\x03."), v => (long)v! == 9),
        ("LONG_BINPUT", P(Int(9), "r", U32(1000), "0", "j", U32(1000), "."), v => (long)v! == 9),
        ("LONG_BINGET", P(Int(8), "r", U32(70000), "0", "j", U32(70000), "."), v => (long)v! == 8),
        ("MEMOIZE", P(Int(9), "\x94", "0", "h\x00."), v => (long)v! == 9),
        ("GLOBAL", P(Global("collections", "OrderedDict"), ")R."), v => v is PyDict),
        ("STACK_GLOBAL", P(Str("collections"), Str("OrderedDict"), "\x93)R."), v => v is PyDict),
        ("REDUCE", P(Global("collections", "OrderedDict"), "]", Str("k"), Int(3), "\x86", "a", "\x85", "R."), v => v is PyDict d && d.TryGet("k", out var x) && (long)x! == 3),
        ("NEWOBJ", P(Global("collections", "OrderedDict"), ")\x81."), v => v is PyDict),
        ("BUILD", P("}}", Str("_metadata"), "Nsb."), v => v is PyDict { State: PyDict }),
        ("BINPERSID", P(Storage("FloatStorage", "0", 4), "."), v => v is TorchStorage { DType: DType.F32, Key: "0", Numel: 4 }),
    };

    public static IEnumerable<object[]> CaseNames => Cases.Select(c => new object[] { c.Opcode });

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void EachSupportedOpcodeGivesItsValue(string opcode)
    {
        var c = Cases.Single(x => x.Opcode == opcode);
        var v = Load(c.Pickle);
        Assert.True(c.Check(v), $"{opcode}: got {v}");
    }

    [Fact]
    public void EverySupportedOpcodeHasACase() =>
        Assert.Empty(PickleReader.Opcodes.Values.Except(Cases.Select(c => c.Opcode)));

    [Fact]
    public void TensorRebuildersAndParameters()
    {
        var t = Assert.IsType<TorchTensor>(Load(P(Tensor(Storage("DoubleStorage", "7", 6), 1, new[] { 2, 2 }, new[] { 1, 2 }), ".")));
        Assert.Equal((DType.F64, "7", 1L), (t.Storage.DType, t.Storage.Key, t.Offset));
        Assert.Equal(new long[] { 2, 2 }, t.Size);
        Assert.Equal(new long[] { 1, 2 }, t.Stride);
        var p = Load(P(Global("torch._utils", "_rebuild_parameter"), "(", Tensor(Storage("HalfStorage", "0", 1), 0, new int[0], new int[0]), "\x88", Global("collections", "OrderedDict"), ")R", "tR."));
        Assert.IsType<TorchTensor>(p);
    }

    [Theory]
    [InlineData("i", "opcode 0x69")]                                   // INST: protocol 0 instantiation
    [InlineData("I5\n.", "opcode 0x49")]                                // text INT
    [InlineData("\x82\x01.", "opcode 0x82")]                            // EXT1: the extension registry
    [InlineData("cos\nsystem\n.", "'os.system' is not allowed")]
    [InlineData("c__main__\nNet\n.", "torch.save(model.state_dict()")]
    [InlineData("cbuiltins\neval\n.", "'builtins.eval' is not allowed")]
    [InlineData("ctorch\nFloatStorage\n)R.", "cannot be called")]
    [InlineData("0", "stack underflow")]
    [InlineData("h\x05.", "memo key 5")]
    [InlineData("N", "without a STOP")]
    [InlineData("NN.", "values left on the stack")]
    [InlineData("t.", "no MARK")]
    [InlineData("\x80\x09N.", "protocol 9")]
    [InlineData("X\xff\xff\xff\x7f.", "bytes but only")]                 // a 2 GiB string claim
    [InlineData("\x8d\xff\xff\xff\xff\xff\xff\xff\x7f.", "bytes but only")]
    [InlineData("\x8b\xff\xff\xff\x7f.", "bytes but only")]                // a 2 GiB integer claim
    [InlineData("X\x02\x00\x00\x00\xff\xfe.", "UTF-8")]
    [InlineData("}(K\x01K\x02K\x03u.", "odd number")]
    [InlineData("K\x01K\x02" + "a.", "APPEND to a 1")]
    [InlineData("(Ustorage\nK\x01K\x02K\x03K\x04tQ.", "persistent id")]
    [InlineData("(Xstorage\x00\x00\x00ctorch\nFloatStorage\nU\x03../Ucpu\nK\x01tQ.", "not a plain name")]
    public void RefusesWhatItDoesNotAllowAndSaysWhere(string pickle, string expected)
    {
        // \x.. escapes above are raw bytes; BINUNICODE lengths in the persistent-id cases are written out where needed.
        var bytes = P(pickle);
        if (expected == "persistent id") bytes = P("(", Str("other"), Int(1), Int(2), Int(3), Int(4), "tQ.");
        if (expected == "not a plain name") bytes = P("(", Str("storage"), Global("torch", "FloatStorage"), Str("../x"), Str("cpu"), Int(1), "tQ.");
        var e = Assert.Throws<ModelFormatException>(() => Load(bytes));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("test.pkl: pickle:", e.Message);
        Assert.Contains("at byte", e.Message);
    }

    /// <summary>Self-referencing and deeply nested values load without recursion (the reader is a loop, not a recursive descent).</summary>
    [Fact]
    public void RecursiveAndDeepPicklesLoadWithoutRecursion()
    {
        var self = Assert.IsType<List<object?>>(Load(P("]q", (byte)0, "h", (byte)0, "a.")));
        Assert.Same(self, self[0]);
        int depth = 200_000;
        var deep = P(string.Concat(Enumerable.Repeat("]", depth)), string.Concat(Enumerable.Repeat("a", depth - 1)), ".");
        var root = Assert.IsType<List<object?>>(Load(deep));
        int d = 1;
        for (var l = root; l.Count > 0; l = (List<object?>)l[0]!) d++;
        Assert.Equal(depth, d);
    }
}
