using System.Buffers.Binary;
using MtlPrune.Engine.IO;
using MtlPrune.Engine.IO.Torch;
using MtlPrune.Interop;
using static MtlPrune.Tests.Interop.PickleBytes;

namespace MtlPrune.Tests.Interop;

public class ZipAndArchiveTests
{
    private static ZipReader Zip(byte[] b) => new(new MemoryStream(b), "test.zip");
    private static TorchArchive Archive(byte[] b) => TorchArchive.Open(new MemoryStream(b), "test.pth");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsStoredAndDeflatedMembers(bool deflate)
    {
        var payload = Enumerable.Range(0, 5000).Select(i => (byte)(i % 7)).ToArray();
        using var z = Zip(TorchZip.Zip(new[] { ("a/x.bin", payload), ("a/empty", Array.Empty<byte>()) }, deflate));
        Assert.Equal(new[] { "a/x.bin", "a/empty" }, z.Entries.Select(e => e.Name));
        Assert.Equal(deflate ? 8 : 0, z.Entries[0].Method);
        Assert.Equal(payload, z.Read(z.Entries[0]));
        Assert.Empty(z.Read(z.Entries[1]));
    }

    [Fact]
    public void ReadsZip64Fields()
    {
        using var z = Zip(TorchZip.Zip64("a/data.pkl", new byte[] { 1, 2, 3 }));
        Assert.Equal(new byte[] { 1, 2, 3 }, z.Read(z.Entries.Single()));
    }

    [Fact]
    public void DamagedArchivesAreRefusedByName()
    {
        var good = TorchZip.Zip(new[] { ("a/x.bin", new byte[100]) });
        string Fault(byte[] b) => Assert.Throws<ModelFormatException>(() => { using var z = Zip(b); foreach (var e in z.Entries) z.Read(e); }).Message;
        var flipped = (byte[])good.Clone(); flipped[60] ^= 0xFF;                        // inside the member's data
        Assert.Contains("CRC-32", Fault(flipped));
        Assert.Contains("end-of-central-directory", Fault(good[..^30]));
        Assert.Contains("too short", Fault(good[..10]));
        int cd = TorchZip.CentralRecord(good);
        var encrypted = (byte[])good.Clone(); encrypted[cd + 8] |= 1;
        Assert.Contains("encrypted", Fault(encrypted));
        var bzip = (byte[])good.Clone(); bzip[cd + 10] = 12;
        Assert.Contains("compression method 12", Fault(bzip));
        var bomb = TorchZip.Zip(new[] { ("a/x.bin", new byte[100]) }, deflate: true);
        int cd2 = TorchZip.CentralRecord(bomb);
        BinaryPrimitives.WriteUInt32LittleEndian(bomb.AsSpan(cd2 + 24), 0x10000000);    // claim 256 MiB from a few compressed bytes
        Assert.Contains("largest ratio", Fault(bomb));
        var past = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(past.AsSpan(cd + 42), 0x7FFFFFF0);      // local header offset far beyond the file
        Assert.Contains("outside the file", Fault(past));
    }

    [Fact]
    public void TensorsAreCheckedAgainstTheirStoragesBeforeAnyAllocation()
    {
        string Fault(byte[] pickle, params (string, byte[])[] storages) => Assert.Throws<ModelFormatException>(() =>
        {
            using var a = Archive(TorchZip.Torch(pickle, storages));
            foreach (var (k, v) in ((PyDict)a.Root!).Items) a.Materialize((TorchTensor)v!, (string)k!);
        }).Message;
        var four = TorchZip.Floats(1, 2, 3, 4);
        Assert.Contains("beyond its storage", Fault(StateDict(("w", Tensor(Storage("FloatStorage", "0", 4), 0, new[] { 10 }, new[] { 1 }))), ("0", four)));
        Assert.Contains("beyond its storage", Fault(StateDict(("w", Tensor(Storage("FloatStorage", "0", 4), 3, new[] { 2 }, new[] { 1 }))), ("0", four)));
        // Two references to one storage that declare different sizes (found by the long pickle fuzz run): each is checked.
        Assert.Contains("holds 16 bytes", Fault(StateDict(("a", Tensor(Storage("FloatStorage", "0", 4), 0, new[] { 4 }, new[] { 1 })),
            ("b", Tensor(Storage("FloatStorage", "0", 8), 0, new[] { 8 }, new[] { 1 }))), ("0", four)));
        Assert.Contains("declares 9", Fault(StateDict(("w", Tensor(Storage("FloatStorage", "0", 9), 0, new[] { 2 }, new[] { 1 }))), ("0", four)));
        Assert.Contains("does not contain", Fault(StateDict(("w", Tensor(Storage("FloatStorage", "1", 4), 0, new[] { 4 }, new[] { 1 }))), ("0", four)));
        // A shape of 2^40 × 2^40 elements (a "terabyte" tensor): refused from its header, nothing allocated.
        var huge = P(Global("torch._utils", "_rebuild_tensor_v2"), "(", Storage("FloatStorage", "0", 4), Int(0),
            "(", "\x8a\x08", U64(1UL << 40), "\x8a\x08", U64(1UL << 40), "t", "(", Int(1), Int(1), "t", "\x89", Global("collections", "OrderedDict"), ")R", "tR");
        Assert.Contains("overflow", Fault(StateDict(("w", huge)), ("0", four)));
        var big = P(Global("torch._utils", "_rebuild_tensor_v2"), "(", Storage("FloatStorage", "0", 4), Int(0),
            "(", "\x8a\x08", U64(1UL << 40), "t", "(", Int(1), "t", "\x89", Global("collections", "OrderedDict"), ")R", "tR");
        Assert.Contains("more than one tensor can hold", Fault(StateDict(("w", big)), ("0", four)));
    }

    /// <summary>Zero-size tensors (found by the long fuzz run): any offset is fine, nothing is read, the shape is kept.</summary>
    [Fact]
    public void ZeroSizeTensorsReadAsEmptyWhateverTheirOffset()
    {
        var pkl = StateDict(("a", Tensor(Storage("FloatStorage", "0", 4), 9, new[] { 8, 3, 0, 7 }, new[] { 21, 7, 7, 1 })),
            ("b", Tensor(Storage("FloatStorage", "0", 4), 0, new[] { 1, 16, 0, 1 }, new[] { 16, 1, 1, 1 })));
        using var a = Archive(TorchZip.Torch(pkl, ("0", TorchZip.Floats(1, 2, 3, 4))));
        foreach (var (k, v) in ((PyDict)a.Root!).Items)
        {
            var t = a.Materialize((TorchTensor)v!, (string)k!);
            Assert.Equal(0, t.Numel);
            Assert.Empty(t.ToArray());
        }
        Assert.Equal(new[] { 8, 3, 0, 7 }, a.Materialize((TorchTensor)((PyDict)a.Root!).Items[0].Value!, "a").Shape);
    }

    [Fact]
    public void ArchiveShapeIsChecked()
    {
        var pkl = StateDict(("w", Tensor(Storage("FloatStorage", "0", 1), 0, new[] { 1 }, new[] { 1 })));
        Assert.Contains("has 2", Assert.Throws<ModelFormatException>(() => Archive(TorchZip.Zip(new[] { ("a/data.pkl", pkl), ("b/data.pkl", pkl) }))).Message);
        Assert.Contains("TorchScript", Assert.Throws<ModelFormatException>(() => Archive(TorchZip.Zip(new[] { ("a/data.pkl", pkl), ("a/constants.pkl", pkl) }))).Message);
        Assert.Contains("starts with 'PK'", Assert.Throws<ModelFormatException>(() => Archive(new byte[] { 1, 2, 3, 4, 5 })).Message);
        Assert.Contains("big-endian", Assert.Throws<ModelFormatException>(() => Archive(TorchZip.Zip(new[] { ("a/data.pkl", pkl), ("a/byteorder", "big"u8.ToArray()) }))).Message);
    }

    /// <summary>The wrappers users' files have: nested under 'model' or 'net' beside other entries; non-state-dict roots are named.</summary>
    [Fact]
    public void WrappersAreUndoneAndOtherEntriesListed()
    {
        using var dir = new TempDir();
        var t = Tensor(Storage("FloatStorage", "0", 2), 0, new[] { 2 }, new[] { 1 });
        foreach (var key in new[] { "model", "net", "state_dict" })
        {
            var pkl = P("\x80\x02}(", Str("epoch"), Int(3), Str(key), Global("collections", "OrderedDict"), ")R(", Str("module.layer.weight"), t, "u", "u.");
            File.WriteAllBytes(dir.File($"{key}.pth"), TorchZip.Torch(pkl, ("0", TorchZip.Floats(1, 2))));
            var sd = StateDictFile.Read(dir.File($"{key}.pth"));
            Assert.Equal(new[] { "layer.weight" }, sd.Tensors.Keys);
            Assert.Contains(sd.Notes, n => n.Contains($"'{key}'") && n.Contains("epoch"));
        }
        File.WriteAllBytes(dir.File("list.pth"), TorchZip.Torch(P("]."), Array.Empty<(string, byte[])>()));
        Assert.Contains("not a dict", Assert.Throws<ModelFormatException>(() => StateDictFile.Read(dir.File("list.pth"))).Message);
        File.WriteAllBytes(dir.File("cfg.pth"), TorchZip.Torch(P("}", Str("lr"), Int(1), "s."), Array.Empty<(string, byte[])>()));
        Assert.Contains("no state dict found", Assert.Throws<ModelFormatException>(() => StateDictFile.Read(dir.File("cfg.pth"))).Message);
    }
}
