namespace MtlPrune.Engine.IO;

/// <summary>
/// Writes a file through a temporary sibling that is flushed to disk and then renamed over the target, so a
/// crash or an exception never leaves a half-written file and never destroys the previous version.
/// </summary>
public static class AtomicFile
{
    /// <summary>Runs <paramref name="write"/> on a temporary stream, then renames it to <paramref name="path"/>.</summary>
    /// <exception cref="IOException">The directory does not exist or the file cannot be written; the message names the path.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"Cannot write '{path}': directory '{dir}' does not exist.");
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Writes all bytes atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Writes text (UTF-8, no BOM) atomically.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, s => { var b = new System.Text.UTF8Encoding(false).GetBytes(text); s.Write(b); });
}
