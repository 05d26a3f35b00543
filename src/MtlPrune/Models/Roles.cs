using MtlPrune.Engine;
using MtlPrune.Engine.NN;

namespace MtlPrune.Models;

/// <summary>Which part of a multi-task model a parameter belongs to: the shared backbone, or the head of one task.</summary>
public readonly record struct ParamRole(string? Task)
{
    public static readonly ParamRole Shared = new(null);
    public static ParamRole Head(string task) => new(task);
    public bool IsShared => Task is null;
    public override string ToString() => Task is null ? "shared" : $"head:{Task}";
}

/// <summary>
/// A parameter with its role and whether pruning methods may mask it. Roles come from the module tree (the
/// parameter lives under the backbone or under a task's head), never from name patterns.
/// </summary>
public sealed record ParameterInfo(string Name, Tensor Tensor, ParamRole Role, bool Prunable, Module Owner);

/// <summary>Which parameters count as prunable.</summary>
public sealed record PrunableSelection(bool Biases = false, bool BatchNorm = false)
{
    /// <summary>Conv and linear weights only: the convention of every codebase in methods.md §4.</summary>
    public static readonly PrunableSelection Default = new();
}
