using MtlPrune.Engine.IO;
using MtlPrune.Tasks;

namespace MtlPrune.Data;

/// <summary>A sample that could not be read: the data set, the sample's index and the reader's fault (which names the file).</summary>
public sealed class BadSampleException(string dataset, int index, Exception fault)
    : Exception($"data '{dataset}' sample {index}: {fault.Message} (pass --skip-bad-samples to log damaged samples and go on)", fault)
{
    public string Dataset { get; } = dataset;
    public int Index { get; } = index;
}

/// <summary>
/// Wraps a file-backed data set so that a damaged sample (a file that cannot be read or decoded; a missing file is a
/// layout error and passes through as such) is reported by its index and file. By default the read stops
/// with a <see cref="BadSampleException"/>; with <paramref name="skipBad"/> the damaged sample is logged once (through
/// <see cref="Warn"/>) and the next readable sample stands in for it, so a long run goes on and the same indices
/// always give the same samples.
/// </summary>
public sealed class SampleGuard(IDataset inner, bool skipBad) : IDataset
{
    /// <summary>Where skipped samples are reported (the CLI prints a warning line); standard error by default.</summary>
    public static Action<string> Warn { get; set; } = m => Console.Error.WriteLine("warning: " + m);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, bool> _reported = new();

    public IDataset Inner => inner;
    public string Name => inner.Name;
    public int Count => inner.Count;
    public IReadOnlyList<TaskSpec> Tasks => inner.Tasks;

    public Sample Get(int index)
    {
        for (int k = 0; k < Math.Max(1, Count); k++)
        {
            int i = (index + k) % Math.Max(1, Count);
            try { return inner.Get(i); }
            catch (Exception e) when (e is ModelFormatException or (IOException and not FileNotFoundException and not DirectoryNotFoundException) or UnauthorizedAccessException)
            {
                if (!skipBad) throw new BadSampleException(inner.Name, i, e);
                if (_reported.TryAdd(i, true)) Warn($"skipping data '{inner.Name}' sample {i}: {e.Message}");
            }
        }
        throw new BadSampleException(inner.Name, index, new IOException("every sample of the split is damaged."));
    }
}
