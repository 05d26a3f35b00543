using Google.Protobuf;

namespace MtlPrune.Deploy.Onnx;

/// <summary>
/// Writes protocol-buffer fields by number with Google.Protobuf's <see cref="CodedOutputStream"/>, without generated
/// classes; a nested message is written to its own buffer and then as a length-delimited field.
/// </summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _buffer = new();
    private readonly CodedOutputStream _out;

    public ProtoWriter() => _out = new CodedOutputStream(_buffer, leaveOpen: true);

    public ProtoWriter Int(int field, long value)
    {
        _out.WriteTag(field, WireFormat.WireType.Varint);
        _out.WriteInt64(value);
        return this;
    }

    public ProtoWriter Float(int field, float value)
    {
        _out.WriteTag(field, WireFormat.WireType.Fixed32);
        _out.WriteFloat(value);
        return this;
    }

    public ProtoWriter Str(int field, string value)
    {
        _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
        _out.WriteString(value);
        return this;
    }

    public ProtoWriter Bytes(int field, byte[] value)
    {
        _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
        _out.WriteBytes(ByteString.CopyFrom(value));
        return this;
    }

    public ProtoWriter Msg(int field, Action<ProtoWriter> body)
    {
        var inner = new ProtoWriter();
        body(inner);
        return Bytes(field, inner.ToArray());
    }

    /// <summary>Repeated int64 written packed.</summary>
    public ProtoWriter Ints(int field, IEnumerable<long> values)
    {
        var inner = new MemoryStream();
        var o = new CodedOutputStream(inner, leaveOpen: true);
        foreach (var v in values) o.WriteInt64(v);
        o.Flush();
        return Bytes(field, inner.ToArray());
    }

    public byte[] ToArray()
    {
        _out.Flush();
        return _buffer.ToArray();
    }
}
