using System.Collections.Concurrent;
using MtlPrune.Engine;
using MtlPrune.Tasks;

namespace MtlPrune.Data;

/// <summary>A batch: images [B, 3, H, W] and targets stacked per task.</summary>
public sealed record Batch(Tensor Images, IReadOnlyDictionary<string, Tensor> Targets, int Count);

/// <summary>
/// Batches a data set (~ <c>torch.utils.data.DataLoader</c>): seeded shuffling per epoch, optional augmentation
/// seeded per (seed, epoch, sample), and a background thread that prepares the next batches while the model trains.
/// The same seed gives the same batches whatever the timing.
/// </summary>
public sealed class DataLoader : IDisposable
{
    private readonly IDataset _data;
    private readonly int _batch;
    private readonly bool _shuffle, _dropLast;
    private readonly ulong _seed;
    private readonly Augmentation? _aug;
    private readonly int _prefetch;
    private BlockingCollection<Batch>? _queue;
    private CancellationTokenSource? _cts;
    private Task? _worker;

    public DataLoader(IDataset data, int batchSize, bool shuffle, ulong seed = 0, Augmentation? augmentation = null, bool dropLast = false, int prefetch = 2)
    {
        if (batchSize < 1) throw new ArgumentException($"Batch size {batchSize} must be positive.");
        _data = data; _batch = batchSize; _shuffle = shuffle; _seed = seed; _aug = augmentation; _dropLast = dropLast; _prefetch = Math.Max(1, prefetch);
    }

    /// <summary>Batches per epoch.</summary>
    public int BatchesPerEpoch => _dropLast ? _data.Count / _batch : (_data.Count + _batch - 1) / _batch;

    /// <summary>The order of sample indices in <paramref name="epoch"/>.</summary>
    public int[] Order(int epoch)
    {
        var idx = Enumerable.Range(0, _data.Count).ToArray();
        if (_shuffle) new Rng(_seed * 1_000_003 + (ulong)epoch).Shuffle(idx);
        return idx;
    }

    /// <summary>The <paramref name="position"/>-th batch of <paramref name="epoch"/>, computed on the calling thread.</summary>
    public Batch MakeBatch(int epoch, int position)
    {
        var order = Order(epoch);
        int start = position * _batch, count = Math.Min(_batch, order.Length - start);
        var samples = new Sample[count];
        try
        {
            Parallel.For(0, count, i =>
            {
                var s = _data.Get(order[start + i]);
                if (_aug is not null) s = _aug.Apply(s, _data.Tasks, new Rng(_seed * 7_919 + (ulong)epoch * 1_000_033 + (ulong)order[start + i]));
                samples[i] = s;
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            // The first sample's own error (e.g. a BadSampleException naming the index and file), not the wrapper.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        return Stack(samples, _data.Tasks);
    }

    /// <summary>Stacks samples into a batch.</summary>
    public static Batch Stack(IReadOnlyList<Sample> samples, IReadOnlyList<TaskSpec> tasks)
    {
        var images = Tensor.Concat(samples.Select(s => s.Image.Reshape(new[] { 1 }.Concat(s.Image.Shape).ToArray())).ToList(), 0);
        var targets = new Dictionary<string, Tensor>();
        foreach (var t in tasks)
            targets[t.Name] = Tensor.Concat(samples.Select(s => s.Targets[t.Name].Reshape(new[] { 1 }.Concat(s.Targets[t.Name].Shape).ToArray())).ToList(), 0);
        return new Batch(images, targets, samples.Count);
    }

    /// <summary>
    /// Endless batches from (epoch, position) on, prepared ahead on a background thread; <paramref name="startStep"/>
    /// skips that many batches (for resuming).
    /// </summary>
    public IEnumerable<Batch> Stream(int startStep = 0)
    {
        Dispose();
        _cts = new CancellationTokenSource();
        _queue = new BlockingCollection<Batch>(_prefetch);
        var queue = _queue; var token = _cts.Token;
        int perEpoch = Math.Max(1, BatchesPerEpoch);
        Exception? failure = null;
        _worker = Task.Run(() =>
        {
            try
            {
                for (long step = startStep; !token.IsCancellationRequested; step++)
                    queue.Add(MakeBatch((int)(step / perEpoch), (int)(step % perEpoch)), token);
            }
            catch (OperationCanceledException) { }
            catch (Exception e) { failure = e; }                 // handed to the consumer below, not lost with the thread
            finally { queue.CompleteAdding(); }
        }, token);
        return Consume(queue, () => failure);
    }

    /// <summary>The queue's batches; when the preparing thread failed, its exception is thrown where the batches are used.</summary>
    private static IEnumerable<Batch> Consume(BlockingCollection<Batch> queue, Func<Exception?> failure)
    {
        foreach (var b in queue.GetConsumingEnumerable()) yield return b;
        if (failure() is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
    }

    /// <summary>One pass over the data in order (no prefetch), e.g. for evaluation.</summary>
    public IEnumerable<Batch> Epoch(int epoch = 0)
    {
        for (int p = 0; p < BatchesPerEpoch; p++) yield return MakeBatch(epoch, p);
    }

    public void Dispose()
    {
        _cts?.Cancel();
        try { _worker?.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _queue?.Dispose(); _cts?.Dispose();
        _queue = null; _cts = null; _worker = null;
    }
}
