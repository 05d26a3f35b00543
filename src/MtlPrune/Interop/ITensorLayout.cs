using MtlPrune.Engine;
using MtlPrune.Models;

namespace MtlPrune.Interop;

/// <summary>
/// How another codebase names a multi-task model's tensors. A layout recognises its names, infers the architecture from
/// the tensors' shapes, and maps every entry of an MtlPrune state dict to its own name (imports read through the map,
/// exports write through it).
/// </summary>
public interface ITensorLayout
{
    /// <summary>The name used by <c>--layout</c>.</summary>
    string Name { get; }

    /// <summary>The names this layout expects, for error messages.</summary>
    string Describe { get; }

    /// <summary>Whether a file's tensor names look like this layout.</summary>
    bool Recognizes(IReadOnlyCollection<string> names);

    /// <summary>
    /// Applies and removes layout-specific tensors that are not model weights (e.g. AdapMTL's soft thresholds), adding
    /// masks and notes.
    /// </summary>
    void Prepare(Dictionary<string, Tensor> tensors, Dictionary<string, Tensor> masks, List<string> notes);

    /// <summary>The model spec the tensors' shapes describe; <paramref name="inferred"/> receives one line per decision.</summary>
    /// <exception cref="ArgumentException">The shapes do not describe a model of this layout, or the tasks do not match.</exception>
    ModelSpec Infer(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyList<TaskRequest>? tasks, int ignoreIndex, List<string> inferred);

    /// <summary>MtlPrune state-dict name → this layout's name, for every entry of <paramref name="model"/>'s state dict.</summary>
    IReadOnlyDictionary<string, string> Names(MultiTaskModel model);
}
