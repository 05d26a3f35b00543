using System.Runtime.CompilerServices;

namespace MtlPrune.Engine.Kernels;

/// <summary>A loop body for <see cref="WorkerPool.For{TBody}"/>: a struct, so passing it allocates nothing.</summary>
public interface IParallelBody
{
    /// <summary>Runs iteration <paramref name="i"/>.</summary>
    void Run(int i);
}

/// <summary>
/// An allocation-free parallel for: persistent worker threads (one per extra core) that spin briefly, then sleep,
/// between loops, and take iterations from a shared counter. Bodies are generic structs, so a loop allocates nothing,
/// unlike <c>Parallel.For</c> with a closure; and starting one costs about a microsecond instead of several. Loops are not
/// nested: a loop started while the pool is busy (from a worker, or from another thread) runs on the calling thread.
/// </summary>
public static class WorkerPool
{
    private static readonly int Workers = Math.Max(0, Environment.ProcessorCount - 1);
    private static readonly object Gate = new();
    private static readonly SemaphoreSlim Wake = new(0, int.MaxValue);
    private static int _busy;                    // 1 while a loop runs
    private static Action? _work;                // the current loop's drain function (one cached delegate per body type)
    private static int _next, _count, _pending;  // next iteration, iterations, workers still inside the current loop
    private static bool _started;
    private static Exception? _error;            // the first exception a body threw in the current loop

    [ThreadStatic] private static bool _inWorker;

    /// <summary>Runs body.Run(i) for i in [0, count), in parallel when the pool is free and count &gt; 1.</summary>
    public static void For<TBody>(int count, ref TBody body) where TBody : struct, IParallelBody
    {
        if (count <= 0) return;
        if (count == 1 || Workers == 0 || _inWorker || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++) body.Run(i);
            return;
        }
        try
        {
            EnsureStarted();
            Holder<TBody>.Body = body;
            _next = 0; _count = count; _error = null;
            Volatile.Write(ref _pending, Workers);
            Volatile.Write(ref _work, Holder<TBody>.Drain);
            Wake.Release(Workers);
            Holder<TBody>.Drain();
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) > 0) spin.SpinOnce(-1);
            body = Holder<TBody>.Body;
            if (_error is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
        }
        finally
        {
            Holder<TBody>.Body = default;
            Volatile.Write(ref _work, null);
            Volatile.Write(ref _busy, 0);
        }
    }

    private static class Holder<TBody> where TBody : struct, IParallelBody
    {
        public static TBody Body;
        public static readonly Action Drain = () =>
        {
            int i;
            try { while ((i = Interlocked.Increment(ref _next) - 1) < _count) Body.Run(i); }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
                Volatile.Write(ref _next, int.MaxValue / 2);     // the other threads stop taking iterations
            }
        };
    }

    private static void EnsureStarted()
    {
        if (Volatile.Read(ref _started)) return;
        lock (Gate)
        {
            if (_started) return;
            for (int w = 0; w < Workers; w++)
                new Thread(Loop) { IsBackground = true, Name = $"mtlprune-worker-{w}" }.Start();
            Volatile.Write(ref _started, true);
        }
    }

    private static void Loop()
    {
        _inWorker = true;
        while (true)
        {
            // Spin a little first: loops come in bursts (one per layer), and waking a sleeping thread costs tens of µs.
            if (!Wake.Wait(0))
            {
                var spin = new SpinWait();
                bool got = false;
                for (int s = 0; s < 2000 && !got; s++) { spin.SpinOnce(-1); got = Wake.Wait(0); }
                if (!got) Wake.Wait();
            }
            var work = Volatile.Read(ref _work);
            try { work?.Invoke(); }
            finally { Interlocked.Decrement(ref _pending); }
        }
    }
}
